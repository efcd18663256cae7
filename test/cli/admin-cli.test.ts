import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient, type Client as RpcClient } from "@connectrpc/connect";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hasValidChecksum, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { apiKeyAuthorization, decodeJwt } from "../support/admin.js";
import { tableRows } from "../support/cli-process.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * `tokensmith client|apikey|keys|token` as an operator or a script runs
 * them: `node bin/tokensmith.js …` against a running server, credentials
 * from the environment (or flags), output as tables or --json, and exit
 * codes a shell can branch on.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const admin = testClient("cli-admin", ["tokensmith:admin"]);
const reader = testClient("cli-reader", ["orders:read"]);
const resourceServer = testClient("cli-resource-server", ["token:introspect"]);
const platform = testClient("cli-platform", ["tokensmith:tenants"]);
/** Platform credentials for the tenant commands. */
const asPlatform = { TOKENSMITH_CLIENT_ID: platform.id, TOKENSMITH_CLIENT_SECRET: platform.secret };
const configKey = generateSecret("api_key");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let server: RunningServer;
let rpc: ReturnType<typeof tokenClient>;
/** For fixtures: what a test sets up without spawning the CLI (each spawn costs a second or more). */
let adminRpc: RpcClient<typeof AdminService>;
let adminToken: string;
const asAdmin = () => ({ headers: { authorization: `Bearer ${adminToken}` } });
const children = new Set<ChildProcess>();

/** Runs the CLI to completion with only the given Tokensmith variables (the test run's own are dropped). */
function tokensmith(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^(TOKENSMITH_|REDIS_)/.test(name) && name !== "NODE_ENV") base[name] = value;
  const child = spawn(process.execPath, ["bin/tokensmith.js", ...args], {
    cwd: repoRoot,
    env: {
      ...base,
      TOKENSMITH_URL: server.url,
      TOKENSMITH_CLIENT_ID: admin.id,
      TOKENSMITH_CLIENT_SECRET: admin.secret,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await tokensmith(args, env);
  expect(result, `tokensmith ${args.join(" ")}`).toMatchObject({ code: 0, stderr: "" });
  return result.stdout;
}

const json = async <T>(args: string[], env: Record<string, string> = {}) => JSON.parse(await ok([...args, "--json"], env)) as T;

/** A port nothing listens on: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  server = await startTestServer({
    clients: [admin, reader, resourceServer, platform],
    config: { apiKeys: [{ name: "cli-config-key", keyHash: hashSecret(configKey), scopes: ["passkey:read"] }] },
  });
  const transport = transports["connect JSON (HTTP/1.1)"](server.url);
  rpc = tokenClient(transport);
  const { accessToken } = await rpc.issueClientToken({ scopes: ["tokensmith:admin"] }, { headers: basic(admin.id, admin.secret) });
  adminRpc = createClient(AdminService, transport);
  adminToken = accessToken;
});
afterAll(async () => {
  // A test that timed out never waited for its run.
  for (const child of children) child.kill("SIGKILL");
  await server?.close();
});

// Spawning `node bin/tokensmith.js` compiles TypeScript on the fly: slow on a busy machine.
const SPAWNING = { timeout: 90_000 };

describe("tokensmith client", SPAWNING, () => {
  it("create --json: the secret, once, works with `tokensmith token` (plain and --json)", async () => {
    const created = await json<{ client: Record<string, unknown>; clientSecret: string }>([
      "client",
      "create",
      "--id",
      "cli-orders",
      "--scopes",
      "orders:read,orders:write",
      "--audiences",
      "https://orders.example",
      "--lifetime",
      "2m",
    ]);
    expect(created.client).toMatchObject({
      id: "cli-orders",
      scopes: ["orders:read", "orders:write"],
      audiences: ["https://orders.example"],
      tokenLifetimeSeconds: "120",
      source: "SOURCE_STORE",
    });
    expect(hasValidChecksum(created.clientSecret, "client_secret")).toBe(true);

    const token = await ok(["token", "--client-id", "cli-orders", "--client-secret", created.clientSecret, "--scopes", "orders:read"]);
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(token.trim()).payload).toMatchObject({ client_id: "cli-orders", scope: "orders:read", aud: "https://orders.example" });

    const issued = await json<Record<string, unknown>>(["token"], { TOKENSMITH_CLIENT_ID: "cli-orders", TOKENSMITH_CLIENT_SECRET: created.clientSecret });
    expect(issued).toMatchObject({ tokenType: "Bearer", expiresIn: "120", scopes: ["orders:read", "orders:write"] });
    expect((await rpc.introspect({ token: issued.accessToken as string }, { headers: basic(resourceServer.id, resourceServer.secret) })).active).toBe(true);
  });

  it("create (table): the client's fields and its secret, shown once with a warning", async () => {
    const output = await ok(["client", "create", "--id", "cli-table", "--scopes", "a:read", "--scopes", "a:write"]);
    expect(output).toMatch(/^created client "cli-table"$/m);
    expect(output).toMatch(/^scopes: +a:read a:write$/m);
    const secret = /^client_secret: (tks_cs_\S+)$/m.exec(output)?.[1] ?? "";
    expect(hasValidChecksum(secret, "client_secret")).toBe(true);
    expect(output.split(secret)).toHaveLength(2);
    expect(output).toContain("only time the secret is shown");
    await rpc.issueClientToken({}, { headers: basic("cli-table", secret) });
  });

  // Issue 16, item 8: a key-only client gets no secret; --auth-method registers the methods.
  it("create --jwks-file: private_key_jwt only, no secret printed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokensmith-cli-jwks-"));
    const jwksFile = join(dir, "jwks.json");
    await writeFile(jwksFile, JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] }));
    const output = await ok(["client", "create", "--id", "cli-keys", "--jwks-file", jwksFile]);
    await rm(dir, { recursive: true, force: true });
    expect(output).toMatch(/^authentication: +private_key_jwt \(inline JWKS\)$/m);
    expect(output).toContain("No secret: this client authenticates with private_key_jwt only.");
    expect(output).not.toMatch(/client_secret:|tks_cs_/);
    await expectRpcError(adminRpc.rotateClientSecret({ id: "cli-keys" }, asAdmin()), Code.FailedPrecondition, "invalid_request");
  });

  // Issue 20, item 3: a client that a trusted external issuer's token authenticates has no secret either.
  it("create --auth-method federated_jwt: no secret printed, nor keys needed", async () => {
    const output = await ok(["client", "create", "--id", "cli-workload", "--auth-method", "federated_jwt"]);
    expect(output).toMatch(/^authentication: +federated_jwt$/m);
    expect(output).toContain("No secret: this client authenticates with federated_jwt only.");
    expect(output).not.toMatch(/client_secret:|tks_cs_/);
  });

  it("create --auth-method client_secret_post --json: that method only", async () => {
    const created = await json<{ client: { tokenEndpointAuthMethods: string[] }; clientSecret: string }>([
      "client", "create", "--id", "cli-post-only", "--auth-method", "client_secret_post",
    ]);
    expect(created.client.tokenEndpointAuthMethods).toEqual(["client_secret_post"]);
    await rpc.issueClientToken({ clientId: "cli-post-only", clientSecret: created.clientSecret });
    await expectRpcError(rpc.issueClientToken({}, { headers: basic("cli-post-only", created.clientSecret) }), Code.Unauthenticated, "invalid_client");
  });

  // Issue 20, item 1: --grant-types registers the grant types (RFC 7591 names).
  it("create --grant-types token-exchange, then update --grant-types client_credentials: each shown and enforced", async () => {
    const exchange = "urn:ietf:params:oauth:grant-type:token-exchange";
    const created = await json<{ client: { grantTypes: string[] }; clientSecret: string }>(["client", "create", "--id", "cli-exchanger", "--grant-types", exchange]);
    expect(created.client.grantTypes).toEqual([exchange]);
    await expectRpcError(rpc.issueClientToken({}, { headers: basic("cli-exchanger", created.clientSecret) }), Code.PermissionDenied, "unauthorized_client");
    const output = await ok(["client", "update", "cli-exchanger", "--grant-types", `client_credentials,${exchange}`]);
    expect(output).toMatch(new RegExp(`^grant types: +client_credentials, ${exchange}$`, "m"));
    await rpc.issueClientToken({}, { headers: basic("cli-exchanger", created.clientSecret) });
  });

  it("list: an aligned table of every client, and --json in order by id", async () => {
    await adminRpc.createClient({ id: "cli-list", scopes: ["l:one", "l:two"] }, asAdmin());
    const rows = tableRows(await ok(["client", "list"]));
    expect(rows.find((row) => row.ID === "cli-list")).toMatchObject({ SOURCE: "store", SCOPES: "l:one,l:two", AUDIENCES: "-", LIFETIME: "3600s" });
    expect(rows.find((row) => row.ID === "cli-list")?.CREATED).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(rows.find((row) => row.ID === admin.id)).toMatchObject({ SOURCE: "config", SCOPES: "tokensmith:admin", CREATED: "-" });

    const listed = await json<{ clients: Array<{ id: string; source: string }> }>(["client", "list"]);
    expect(listed.clients.find((client) => client.id === admin.id)?.source).toBe("SOURCE_CONFIG");
    expect(listed.clients.find((client) => client.id === "cli-list")?.source).toBe("SOURCE_STORE");
    const ids = listed.clients.map((client) => client.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(rows.map((row) => row.ID));
  });

  it("get ID (table) and get --id ID --json, never with a secret", async () => {
    await adminRpc.createClient({ id: "cli-get", scopes: ["g:read"], audiences: ["https://g"] }, asAdmin());
    const output = await ok(["client", "get", "cli-get"]);
    expect(output).toMatch(/^id: +cli-get$/m);
    expect(output).toMatch(/^scopes: +g:read$/m);
    expect(output).toMatch(/^audiences: +https:\/\/g$/m);
    expect(output).toMatch(/^source: +store$/m);
    const got = await json<{ client: { id: string; scopes: string[] } }>(["client", "get", "--id", "cli-get"]);
    expect(got.client).toMatchObject({ id: "cli-get", scopes: ["g:read"] });
    expect(output).toMatch(/^authentication: +client_secret_basic, client_secret_post$/m);
    expect(output + JSON.stringify(got)).not.toMatch(/tks_cs_|client_?secret"?:|sha256\$/i);
  });

  it("update: replaces only the fields given", async () => {
    await adminRpc.createClient({ id: "cli-update", scopes: ["u:read"], tokenLifetimeSeconds: 60n }, asAdmin());
    const updated = await json<{ client: Record<string, unknown> }>(["client", "update", "cli-update", "--scopes", "u:write", "--audiences", "https://u"]);
    expect(updated.client).toMatchObject({ scopes: ["u:write"], audiences: ["https://u"], tokenLifetimeSeconds: "60" });
    expect(await ok(["client", "update", "cli-update", "--lifetime", "1h"])).toMatch(/^token lifetime: +3600s$/m);
  });

  it("rotate-secret --overlap: the new secret works, and the old one during the overlap", async () => {
    const created = await adminRpc.createClient({ id: "cli-rotate" }, asAdmin());
    const before = Date.now();
    const rotated = await json<{ clientSecret: string; client: { previousSecretExpireTime: string } }>([
      "client",
      "rotate-secret",
      "cli-rotate",
      "--overlap",
      "10m",
    ]);
    expect(rotated.clientSecret).not.toBe(created.clientSecret);
    const until = Date.parse(rotated.client.previousSecretExpireTime);
    expect(until).toBeGreaterThanOrEqual(before - 1_000 + 600_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 600_000);
    for (const secret of [rotated.clientSecret, created.clientSecret]) await rpc.issueClientToken({}, { headers: basic("cli-rotate", secret) });

    const text = await ok(["client", "rotate-secret", "--id", "cli-rotate"]);
    expect(text).toMatch(/the previous secret works until \d{4}-/);
    expect(text).toMatch(/^client_secret: tks_cs_\S+$/m);
  });

  it("delete: the client's tokens stop introspecting active and its secret gets no more; a second delete exits 4", async () => {
    const created = await adminRpc.createClient({ id: "cli-delete" }, asAdmin());
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic("cli-delete", created.clientSecret) });
    expect(await ok(["client", "delete", "cli-delete"])).toBe('deleted client "cli-delete"\n');
    expect((await rpc.introspect({ token: accessToken }, { headers: basic(resourceServer.id, resourceServer.secret) })).active).toBe(false);
    await expectRpcError(rpc.issueClientToken({}, { headers: basic("cli-delete", created.clientSecret) }), Code.Unauthenticated, "invalid_client");
    const again = await tokensmith(["client", "delete", "cli-delete"]);
    expect(again).toMatchObject({ code: 4, stdout: "" });
    expect(again.stderr).toBe('tokensmith client: cannot delete client "cli-delete": client "cli-delete" not found (invalid_request)\n');
  });

  it("revoke-tokens: the client's tokens stop introspecting active, the client stays and gets new ones; --json", async () => {
    const created = await adminRpc.createClient({ id: "cli-leaked" }, asAdmin());
    const getToken = async () => (await rpc.issueClientToken({}, { headers: basic("cli-leaked", created.clientSecret) })).accessToken;
    const active = async (token: string) =>
      (await rpc.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) })).active;
    const leaked = await getToken();
    const text = await ok(["client", "revoke-tokens", "cli-leaked"]);
    expect(text).toMatch(/^revoked every token of client "cli-leaked" issued up to \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z; the client is kept\n$/);
    expect(await active(leaked)).toBe(false);
    const after = await getToken();
    expect(await active(after)).toBe(true);
    const output = await json<{ id: string; revokeTime: string }>(["client", "revoke-tokens", "--id", "cli-leaked"]);
    expect(output.id).toBe("cli-leaked");
    expect(Date.parse(output.revokeTime)).toBeGreaterThan(Date.parse(text.match(/up to (\S+);/)![1]!));
    expect(await active(after)).toBe(false);
  });

  it.concurrent.each([
    ["an unknown client id on revoke-tokens", ["client", "revoke-tokens", "no-such-client"], /cannot revoke the tokens of client "no-such-client": client "no-such-client" not found/],
    ["an id that exists", ["client", "create", "--id", reader.id], /cannot create client "cli-reader": client "cli-reader" already exists/],
    ["an id the server refuses", ["client", "create", "--id", "bad id"], /client id must be/],
    ["an unknown client id on get", ["client", "get", "no-such-client"], /client "no-such-client" not found/],
    ["a config-declared client on delete", ["client", "delete", reader.id], /read-only/],
  ])("%s: exit code 4 and the server's reason", async (_case, args, message) => {
    const result = await tokensmith(args);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain("usage:");
  });
});

describe("tokensmith apikey", SPAWNING, () => {
  it("create --json; the key issues grants; list as table and --json, never the key; update; delete", async () => {
    const created = await json<{ apiKey: Record<string, unknown>; key: string }>(["apikey", "create", "cli-key", "--scopes", "passkey:read", "--lifetime", "60"]);
    expect(created.apiKey).toMatchObject({ name: "cli-key", scopes: ["passkey:read"], grantLifetimeSeconds: "60", source: "SOURCE_STORE" });
    expect(hasValidChecksum(created.key, "api_key")).toBe(true);
    const grant = await rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuthorization(created.key) });
    expect(grant.expiresIn).toBe(60n);

    const table = await ok(["apikey", "list"]);
    const rows = tableRows(table);
    expect(rows.find((row) => row.NAME === "cli-key")).toMatchObject({
      SOURCE: "store",
      SCOPES: "passkey:read",
      "GRANT LIFETIME": "60s",
      "KEY PREFIX": `${created.key.slice(0, 11)}…`,
    });
    expect(rows.find((row) => row.NAME === "cli-config-key")).toMatchObject({ SOURCE: "config", "KEY PREFIX": "-" });
    const listed = await ok(["apikey", "list", "--json"]);
    for (const output of [table, listed]) {
      expect(output).not.toContain(created.key);
      expect(output).not.toContain(hashSecret(created.key));
    }
    expect((JSON.parse(listed) as { apiKeys: Array<{ name: string }> }).apiKeys.map((key) => key.name)).toContain("cli-key");

    expect(await ok(["apikey", "update", "--name", "cli-key", "--scopes", "passkey:write"])).toMatch(/^scopes: +passkey:write$/m);
    await rpc.issueGrant({ username: "alice", grants: ["passkey:write"] }, { headers: apiKeyAuthorization(created.key) });

    expect(await ok(["apikey", "delete", "cli-key"])).toBe('deleted API key "cli-key"\n');
    await expectRpcError(
      rpc.issueGrant({ username: "alice", grants: ["passkey:write"] }, { headers: apiKeyAuthorization(created.key) }),
      Code.Unauthenticated,
      "invalid_client",
    );
  });

  it("create (table) shows the key once", async () => {
    const output = await ok(["apikey", "create", "--name", "cli-key-table", "--scopes", "a:b"]);
    const key = /^key: (tks_ak_\S+)$/m.exec(output)?.[1] ?? "";
    expect(hasValidChecksum(key, "api_key")).toBe(true);
    expect(output.split(key)).toHaveLength(2);
  });

  it.concurrent.each([
    ["no --scopes", ["apikey", "create", "cli-no-scopes"], 2, /needs --scopes/],
    ["a grant lifetime above 300s", ["apikey", "create", "cli-long", "--scopes", "a:b", "--lifetime", "10m"], 4, /between 1 and 300/],
    ["a config-declared key", ["apikey", "delete", "cli-config-key"], 4, /read-only/],
  ])("%s: refused", async (_case, args, code, message) => {
    const result = await tokensmith(args);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
  });
});

describe("tokensmith keys", SPAWNING, () => {
  it("list, rotate, list --json and list: the new key is published now and signs later", async () => {
    const before = tableRows(await ok(["keys", "list"]));
    expect(before).toHaveLength(1);
    expect(before[0]).toMatchObject({ ALG: "EdDSA", STATE: "signing", RETIRES: "-" });

    const rotated = await ok(["keys", "rotate"]);
    const kid = /^new signing key (\S+) \(EdDSA\): in the JWKS now, signs from \S+$/m.exec(rotated)?.[1] ?? "";
    expect(kid).not.toBe("");
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((key) => key.kid)).toContain(kid);
    // The rotate output ends with the ring.
    expect(tableRows(rotated.slice(rotated.indexOf("KID"))).map((row) => row.STATE)).toEqual(["signing, retiring", "published, signs later"]);

    const { keys } = await json<{ keys: Array<{ kid: string; active: boolean; published: boolean; retireTime?: string }> }>(["keys", "list"]);
    expect(keys.map((key) => [key.kid, key.active, key.published])).toEqual([
      [before[0]!.KID, true, true],
      [kid, false, true],
    ]);
    expect(keys[0]!.retireTime).toMatch(/^\d{4}-/);
  });
});

describe("tokensmith tenant, and --tenant on the other commands", SPAWNING, () => {
  it("create with an admin client; that admin manages its tenant with --tenant or TOKENSMITH_TENANT; list, get, update; delete ends it", async () => {
    const created = await json<{ tenant: Record<string, unknown>; adminClient: { id: string; scopes: string[] }; adminClientSecret: string }>(
      ["tenant", "create", "cli-acme", "--name", "Acme", "--max-lifetime", "10m", "--admin-client", "acme-admin"],
      asPlatform,
    );
    expect(created.tenant).toMatchObject({ id: "cli-acme", displayName: "Acme", source: "SOURCE_STORE", maxTokenLifetimeSeconds: "600", issuer: `${server.url}/t/cli-acme` });
    expect(created.adminClient).toMatchObject({ id: "acme-admin", scopes: ["tokensmith:admin"] });
    const asTenantAdmin = { TOKENSMITH_CLIENT_ID: "acme-admin", TOKENSMITH_CLIENT_SECRET: created.adminClientSecret };

    // The tenant's admin, by flag (after the command, or before it) and by variable.
    const client = await json<{ client: { id: string; tokenLifetimeSeconds: string }; clientSecret: string }>(["client", "create", "--id", "acme-orders", "--tenant", "cli-acme"], asTenantAdmin);
    expect(client.client).toMatchObject({ id: "acme-orders", tokenLifetimeSeconds: "600" });
    expect(tableRows(await ok(["--tenant", "cli-acme", "client", "list"], asTenantAdmin)).map((row) => row.ID)).toEqual(["acme-admin", "acme-orders"]);
    const token = (await ok(["token"], { TOKENSMITH_TENANT: "cli-acme", TOKENSMITH_CLIENT_ID: "acme-orders", TOKENSMITH_CLIENT_SECRET: client.clientSecret })).trim();
    expect(decodeJwt(token).payload.iss).toBe(`${server.url}/t/cli-acme`);
    // Without the tenant, its admin is nobody.
    const outside = await tokensmith(["client", "list"], asTenantAdmin);
    expect(outside.code).toBe(3);

    const rows = tableRows(await ok(["tenant", "list"], asPlatform));
    expect(rows.find((row) => row.ID === "cli-acme")).toMatchObject({ SOURCE: "store", NAME: "Acme", "MAX LIFETIME": "600s", "DEFAULT LIFETIME": "-", STATE: "active" });
    expect(rows.find((row) => row.ID === "default")).toMatchObject({ SOURCE: "config" });
    expect(await ok(["tenant", "update", "cli-acme", "--cors-origins", "https://app.acme.example", "--name", ""], asPlatform)).toMatch(/^CORS origins: +https:\/\/app\.acme\.example$/m);
    const got = await ok(["tenant", "get", "--id", "cli-acme"], asPlatform);
    expect(got).toMatch(/^name: +-$/m);
    expect(got).toMatch(/^issuer: +http:\/\/\S+\/t\/cli-acme$/m);
    expect(got).not.toContain(created.adminClientSecret);

    expect(await ok(["tenant", "delete", "cli-acme"], asPlatform)).toMatch(/^deleted tenant "cli-acme"/);
    const after = await tokensmith(["client", "list", "--tenant", "cli-acme"], asTenantAdmin);
    expect(after.code).toBe(3);
    expect(after.stderr).toContain(`at ${server.url}/t/cli-acme`);
    expect(after.stderr).toContain('the client is one of tenant "cli-acme"');
  });

  it("create (table) prints the admin secret once", async () => {
    const output = await ok(["tenant", "create", "cli-table", "--admin-client", "table-admin"], asPlatform);
    const secret = /^admin client_secret: (tks_cs_\S+)$/m.exec(output)?.[1] ?? "";
    expect(hasValidChecksum(secret, "client_secret")).toBe(true);
    expect(output.split(secret)).toHaveLength(2);
    expect(output).toContain("the only time the secret is shown");
  });

  it.concurrent.each<[string, string[], Record<string, string>, number, RegExp]>([
    ["an admin without tokensmith:tenants", ["tenant", "list"], {}, 3, /admin commands need a client allowed the scope tokensmith:tenants/],
    ["a tenant command with --tenant", ["tenant", "list", "--tenant", "cli-acme"], asPlatform, 2, /drop --tenant/],
    ["an ill-formed --tenant", ["client", "list", "--tenant", "Not_A_Tenant"], {}, 2, /--tenant \(or TOKENSMITH_TENANT\) must be a tenant id/],
    ["an ill-formed tenant id", ["tenant", "create", "Bad_Id"], asPlatform, 4, /tenant id must be/],
    ["the default tenant", ["tenant", "delete", "default"], asPlatform, 4, /read-only/],
    ["an unknown tenant", ["tenant", "get", "nobody-here"], asPlatform, 4, /not found/],
    ["an update with nothing to change", ["tenant", "update", "default"], asPlatform, 2, /nothing to update/],
  ])("%s: refused", async (_case, args, env, code, message) => {
    const result = await tokensmith(args, env);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe("");
  });
});

// Independent single runs: concurrent, to overlap the CLI's start-up time.
describe.concurrent("exit codes and messages", SPAWNING, () => {
  it("a wrong client secret: 3, naming the client and what to check", async () => {
    const result = await tokensmith(["client", "list"], { TOKENSMITH_CLIENT_SECRET: generateSecret("client_secret") });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`cannot get a token for client "${admin.id}" at ${server.url}: client authentication failed (invalid_client)`);
    expect(result.stderr).toContain("check --client-id and --client-secret (or TOKENSMITH_CLIENT_ID and TOKENSMITH_CLIENT_SECRET)");
    expect(result.stdout).toBe("");
  });

  it("a client without tokensmith:admin: 3, saying which scope it needs", async () => {
    const result = await tokensmith(["keys", "list"], { TOKENSMITH_CLIENT_ID: reader.id, TOKENSMITH_CLIENT_SECRET: reader.secret });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/scope not allowed: tokensmith:admin/);
    expect(result.stderr).toContain("admin commands need a client allowed the scope tokensmith:admin");
  });

  it("an unreachable server (a closed port): 5, saying where and why", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await tokensmith(["client", "list", "--url", url]);
    expect(result).toMatchObject({ code: 5, stdout: "" });
    expect(result.stderr).toBe(`tokensmith client: cannot reach Tokensmith at ${url}: connection refused\n`);
  });

  it("--url and --client-id override TOKENSMITH_URL and TOKENSMITH_CLIENT_ID", async () => {
    const unreachable = `http://127.0.0.1:${await closedPort()}`;
    const output = await ok(["token", "--url", server.url, "--client-id", reader.id], { TOKENSMITH_URL: unreachable, TOKENSMITH_CLIENT_SECRET: reader.secret });
    expect(decodeJwt(output.trim()).payload.client_id).toBe(reader.id);
  });

  it.each([
    ["an unknown command", ["frobnicate"], /unknown command "frobnicate"[\s\S]*usage: tokensmith/],
    ["an unknown client command", ["client", "frobnicate"], /unknown client command "frobnicate"[\s\S]*usage: tokensmith client/],
    ["an unknown option", ["client", "list", "--colour"], /unknown option --colour[\s\S]*usage: tokensmith client/],
    ["a get without an id", ["client", "get"], /missing the client id/],
    ["a revoke-tokens without an id", ["client", "revoke-tokens"], /missing the client id[\s\S]*usage: tokensmith client/],
    ["a lifetime that is not a duration", ["client", "create", "--lifetime", "soon"], /--lifetime must be a duration such as 3600, 90s, 15m, 1h or 30d, not "soon"/],
    ["a URL that is not http(s)", ["keys", "list", "--url", "ftp://x"], /--url \(or TOKENSMITH_URL\) must be an http\(s\) URL/],
  ])("%s: 2, with the usage", async (_case, args, message) => {
    const result = await tokensmith(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe("");
  });

  it("no credentials for an admin command: 2, naming the flags and variables", async () => {
    const result = await tokensmith(["client", "list"], { TOKENSMITH_CLIENT_ID: "", TOKENSMITH_CLIENT_SECRET: "" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("missing --client-id and --client-secret (or TOKENSMITH_CLIENT_ID and TOKENSMITH_CLIENT_SECRET");
  });

  it("`client --help`: 0, the usage on stdout; `help` lists the admin commands and exit codes", async () => {
    const result = await tokensmith(["client", "--help"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toContain("usage: tokensmith client");
    expect(result.stdout).toContain("TOKENSMITH_CLIENT_SECRET");
    expect(result.stdout).toContain("revoke-tokens ID");
    const output = await ok(["help"]);
    for (const text of ["client create|list|get", "delete|revoke-tokens", "apikey create|list", "keys list|rotate", "tenant create|list|get", "--tenant ID", "token [--scopes", "exit codes:"]) expect(output).toContain(text);
  });
});
