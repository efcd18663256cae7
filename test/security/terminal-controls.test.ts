import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { formatFields, formatTable } from "../../src/cli/text-output.js";
import type { RunningServer } from "../../src/server.js";
import { MemoryStore } from "../../src/store/memory.js";
import { storeKeys } from "../../src/store/store.js";
import { ADMIN_SCOPE, bearer, useAdminServer } from "../support/admin.js";
import { memoryBackend } from "../support/backends.js";
import { killCliProcesses, runCli } from "../support/cli-process.js";
import { generateClientKey } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * Text another administrator or a client chose is printed to an
 * administrator's terminal by the CLI (tokensmith client get, access-token
 * list, tenant list, audit). A control character there (ESC, a C1 control
 * such as CSI U+009B) or a bidi override is an instruction to the terminal:
 * it could clear the screen, move the cursor over a line, or reorder what
 * is read. Names and labels are refused with such characters on input, and
 * the CLI shows any it gets (stored before, or from the config) escaped.
 */

const ESC = "\u001b";
const CSI = "\u009b";
const RIGHT_TO_LEFT_OVERRIDE = "\u202e";
const FIRST_STRONG_ISOLATE = "\u2068";
const HOSTILE = [`${ESC}[2J`, `${CSI}2J`, `x${RIGHT_TO_LEFT_OVERRIDE}txt.exe`, `${FIRST_STRONG_ISOLATE}a`];
/** What a terminal acts on: C0 and C1 controls, DEL, the bidi controls. */
const TERMINAL_CONTROL = /[\p{Cc}\p{Bidi_Control}]/u;

describe("the CLI's printers show control and bidi characters escaped", () => {
  it("formatTable and formatFields escape every cell and value; columns stay aligned to what is printed", () => {
    const table = formatTable(["NAME", "NOTE"], [[`a${ESC}[31mred`, `b${CSI}2J${RIGHT_TO_LEFT_OVERRIDE}`], ["plain", "c\nd"]]);
    expect(table.replaceAll("\n", "")).not.toMatch(TERMINAL_CONTROL);
    expect(table).toBe(["NAME            NOTE", "a\\u001b[31mred  b\\u009b2J\\u202e", "plain           c\\u000ad", ""].join("\n"));
    const fields = formatFields([["name", `${ESC}]0;title${"\u0007"}`], ["display", `${FIRST_STRONG_ISOLATE}x`]]);
    expect(fields).toBe("name:     \\u001b]0;title\\u0007\ndisplay:  \\u2068x\n");
  });
});

const TENANTS_SCOPE = "tokensmith:tenants";
const admin = testClient("platform-admin", [ADMIN_SCOPE, TENANTS_SCOPE]);
const reporting = testClient("reporting", ["reports:read"]);

describe("names and labels with control or bidi characters are refused (InvalidArgument)", () => {
  const t = useAdminServer(memoryBackend, { admin, clients: [reporting] });
  const asPlatform = async () => ({
    headers: bearer((await t().tokens.issueClientToken({ scopes: [ADMIN_SCOPE, TENANTS_SCOPE] }, { headers: { authorization: `Basic ${Buffer.from(`${admin.id}:${admin.secret}`).toString("base64")}` } })).accessToken),
  });

  it("a named access token's name", async () => {
    for (const name of HOSTILE) {
      await expectRpcError(t().admin.createAccessToken({ clientId: reporting.id, name }), Code.InvalidArgument, "invalid_request", /name/);
    }
    expect((await t().admin.listAccessTokens({})).accessTokens).toEqual([]);
  });

  it("a tenant's display name, on create and on update", async () => {
    const options = await asPlatform();
    for (const displayName of HOSTILE) {
      await expectRpcError(t().admin.createTenant({ id: "acme", displayName }, options), Code.InvalidArgument, "invalid_request", /display_name/);
    }
    await t().admin.createTenant({ id: "globex", displayName: "Globex" }, options);
    for (const displayName of HOSTILE) {
      await expectRpcError(
        t().admin.updateTenant({ tenant: { id: "globex", displayName }, updateMask: { paths: ["display_name"] } }, options),
        Code.InvalidArgument,
        "invalid_request",
        /display_name/,
      );
    }
    expect((await t().admin.getTenant({ id: "globex" }, options)).tenant?.displayName).toBe("Globex");
  });

  it("a client's audiences", async () => {
    for (const audience of HOSTILE) {
      await expectRpcError(t().admin.createClient({ id: "shipping", scopes: ["ship"], audiences: [audience] }), Code.InvalidArgument, "invalid_request", /audiences/);
    }
  });

  it("a trusted issuer's issuer, audiences and subjects", async () => {
    const key = await generateClientKey("ES256");
    const request = (overrides: Record<string, unknown>) => ({
      issuer: "https://ci.example",
      jwksJson: JSON.stringify({ keys: [key.publicJwk] }),
      audiences: ["tokensmith"],
      subjectMappings: [{ subject: "repo:org/*", clientId: reporting.id }],
      ...overrides,
    });
    for (const hostile of HOSTILE) {
      await expectRpcError(t().admin.createTrustedIssuer(request({ issuer: `https://ci.example/${hostile}` })), Code.InvalidArgument, "invalid_request", /issuer/);
      await expectRpcError(t().admin.createTrustedIssuer(request({ audiences: [hostile] })), Code.InvalidArgument, "invalid_request", /audiences/);
      await expectRpcError(
        t().admin.createTrustedIssuer(request({ subjectMappings: [{ subject: `repo:${hostile}`, clientId: reporting.id }] })),
        Code.InvalidArgument,
        "invalid_request",
        /subject/,
      );
    }
    expect((await t().admin.listTrustedIssuers({})).trustedIssuers).toEqual([]);
  });
});

// Spawning `node bin/tokensmith.js` compiles TypeScript on the fly: slow on a busy machine.
describe("tokensmith client get and list show what was stored before such characters were refused escaped", { timeout: 90_000 }, () => {
  const cliAdmin = testClient("cli-admin", [ADMIN_SCOPE]);
  const audiences = [`${ESC}[2J${ESC}[Hall clear`, `${CSI}1A`, `api${RIGHT_TO_LEFT_OVERRIDE}moc.elpmaxe`];
  const store = new MemoryStore();
  let server: RunningServer;
  beforeAll(async () => {
    // A client created as any other, then its stored record given the audiences an older version let through
    // (neither the AdminService nor the config file takes them now, so the CLI is the last guard), and
    // the server started again on that store, so nothing of the client is cached.
    const creator = await startTestServer({ store, clients: [cliAdmin] });
    try {
      const transport = transports["grpc (HTTP/2)"](creator.url);
      const { accessToken } = await tokenClient(transport).issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: basic(cliAdmin.id, cliAdmin.secret) });
      await createClient(AdminService, transport).createClient({ id: "shown", scopes: ["reports:read"], audiences: ["api.example"] }, { headers: bearer(accessToken) });
    } finally {
      await creator.close();
    }
    const stored = JSON.parse((await store.hashGet(storeKeys.clients(), "shown"))!) as { audiences: string[] };
    await store.hashSet(storeKeys.clients(), "shown", JSON.stringify({ ...stored, audiences }));
    server = await startTestServer({ store, clients: [cliAdmin] });
  });
  afterAll(async () => {
    killCliProcesses();
    await server?.close();
    await store.close();
  });

  it.each([[["client", "get", "shown"]], [["client", "list"]], [["client", "get", "shown", "--json"]]])("tokensmith %j", async (args) => {
    const run = runCli(args, { TOKENSMITH_URL: server.url, TOKENSMITH_CLIENT_ID: cliAdmin.id, TOKENSMITH_CLIENT_SECRET: cliAdmin.secret });
    expect((await run.exited).code, run.stderr()).toBe(0);
    const printed = run.stdout();
    expect(printed).toContain("\\u001b[2J\\u001b[Hall clear");
    expect(printed).toContain("\\u009b1A");
    expect(printed).toContain("api\\u202emoc.elpmaxe");
    expect(printed.replaceAll("\n", "")).not.toMatch(TERMINAL_CONTROL);
    // The JSON's escapes read back as the audiences themselves.
    if (args.includes("--json")) expect((JSON.parse(printed) as { client: { audiences: string[] } }).client.audiences).toEqual(audiences);
  });
});
