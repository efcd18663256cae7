import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { decodeJwt } from "../support/admin.js";
import { killCliProcesses, runCli } from "../support/cli-process.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * `tokensmith access-token create|list|revoke`: named access tokens from the
 * shell, against a running server. The token is printed once (create), never
 * by list; revoke ends it; mistakes exit with the documented codes.
 */

const admin = testClient("cli-admin", ["tokensmith:admin"]);
const reporting = testClient("cli-reporting", ["reports:read", "reports:write"]);
const other = testClient("cli-other", ["other:read"]);
const resourceServer = testClient("cli-resource-server", ["token:introspect"]);

let server: RunningServer;
let rpc: ReturnType<typeof tokenClient>;

beforeAll(async () => {
  server = await startTestServer({ clients: [admin, reporting, other, resourceServer] });
  rpc = tokenClient(transports["connect JSON (HTTP/1.1)"](server.url));
});
afterAll(async () => {
  killCliProcesses();
  await server?.close();
});

async function tokensmith(args: string[], env: Record<string, string> = {}) {
  const run = runCli(args, { TOKENSMITH_URL: server.url, TOKENSMITH_CLIENT_ID: admin.id, TOKENSMITH_CLIENT_SECRET: admin.secret, ...env });
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

async function ok(args: string[]): Promise<string> {
  const result = await tokensmith(args);
  expect(result, `tokensmith ${args.join(" ")}`).toMatchObject({ code: 0, stderr: "" });
  return result.stdout;
}

const json = async <T>(args: string[]) => JSON.parse(await ok([...args, "--json"])) as T;
const introspect = (token: string) => rpc.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) });

interface Created {
  accessToken: { id: string; name: string; clientId: string; scopes: string[]; expireTime: string; createdBy: string };
  token: string;
}

// Spawning `node bin/tokensmith.js` compiles TypeScript on the fly: slow on a busy machine.
const SPAWNING = { timeout: 90_000 };

describe("tokensmith access-token", SPAWNING, () => {
  it("create --json, list (table and --json, never the token), list --client, revoke: the token works until revoked", async () => {
    const created = await json<Created>(["access-token", "create", "--client", reporting.id, "--name", "nightly export", "--scopes", "reports:read", "--lifetime", "10m"]);
    expect(created.accessToken).toMatchObject({ name: "nightly export", clientId: reporting.id, scopes: ["reports:read"], createdBy: admin.id });
    const claims = decodeJwt(created.token).payload;
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);
    expect(await introspect(created.token)).toMatchObject({ active: true, clientId: reporting.id, scopes: ["reports:read"] });
    const mine = await json<Created>(["access-token", "create", "--client", other.id, "--name", "other's"]);

    const table = await ok(["access-token", "list"]);
    expect(table.split("\n")[0]).toMatch(/^NAME\s+CLIENT\s+SCOPES\s+EXPIRES\s+CREATED BY\s+ID$/);
    expect(table).toContain("nightly export");
    expect(table).toContain(created.accessToken.id);
    const listed = await json<{ accessTokens: Array<{ name: string }> }>(["access-token", "list", "--client", reporting.id]);
    expect(listed.accessTokens.map((info) => info.name)).toEqual(["nightly export"]);
    for (const output of [table, JSON.stringify(listed)]) {
      expect(output).not.toContain(created.token.split(".")[2]!);
      expect(output).not.toContain(mine.token.split(".")[2]!);
    }

    expect(await ok(["access-token", "revoke", created.accessToken.id])).toBe(`revoked access token "${created.accessToken.id}" ("nightly export" of client "${reporting.id}")\n`);
    expect((await introspect(created.token)).active).toBe(false);
    expect((await introspect(mine.token)).active).toBe(true);
    expect(await json<{ accessTokens: unknown[] }>(["access-token", "list", "--client", reporting.id])).toEqual({ accessTokens: [] });
    const revoked = await json<{ accessToken: { id: string; name: string } }>(["access-token", "revoke", "--id", mine.accessToken.id]);
    expect(revoked.accessToken).toMatchObject({ id: mine.accessToken.id, name: "other's" });
    expect((await introspect(mine.token)).active).toBe(false);
  });

  it("create (table) prints the token once, with a warning; --scope may repeat", async () => {
    const output = await ok(["access-token", "create", "--client", reporting.id, "--name", "table", "--scope", "reports:read", "--scope", "reports:write"]);
    const token = /^token: (\S+)$/m.exec(output)![1]!;
    expect(output.split(token)).toHaveLength(2);
    expect(output).toContain("This is the only time the token is shown");
    expect(output).toMatch(/^scopes:\s+reports:read reports:write$/m);
    expect((await introspect(token)).active).toBe(true);
  });

  it.concurrent.each([
    ["an unknown client", ["create", "--client", "nobody", "--name", "x"], 4, /cannot create access token "x" for client "nobody": client "nobody" not found/],
    ["a name taken by a live token of the client", ["create", "--client", other.id, "--name", "dup"], 4, /already exists/],
    ["a lifetime above the maximum", ["create", "--client", other.id, "--name", "long", "--lifetime", "400d"], 4, /lifetime_seconds must be between 1 and/],
    ["a scope the client lacks", ["create", "--client", other.id, "--name", "wide", "--scopes", "reports:read"], 3, /scope not allowed: reports:read[\s\S]*only scopes client "cli-other" holds/],
    ["an unknown id on revoke", ["revoke", "no-such-token"], 4, /cannot revoke access token "no-such-token": access token "no-such-token" not found/],
    // A token id is a base64url jti: one in 64 begins with "-", which must not be read as options.
    ["an unknown id beginning with \"-\" on revoke", ["revoke", "-O1lNZi8UEsmTW9ZIQFuzA"], 4, /cannot revoke access token "-O1lNZi8UEsmTW9ZIQFuzA": access token "-O1lNZi8UEsmTW9ZIQFuzA" not found/],
    ["--id with a value beginning with \"-\"", ["revoke", "--id", "-O1lNZi8UEsmTW9ZIQFuzA"], 4, /access token "-O1lNZi8UEsmTW9ZIQFuzA" not found/],
    // And one in 4,096 begins with "--": not a flag either (no flag is spelled with capitals, digits or '_').
    ["an unknown id beginning with \"--\" on revoke", ["revoke", "--Q7kT_x0bZ3e9LwHn2vYpA"], 4, /access token "--Q7kT_x0bZ3e9LwHn2vYpA" not found/],
    ["--id with a value beginning with \"--\"", ["revoke", "--id", "--Q7kT_x0bZ3e9LwHn2vYpA"], 4, /access token "--Q7kT_x0bZ3e9LwHn2vYpA" not found/],
    ["create without --client", ["create", "--name", "x"], 2, /missing --client[\s\S]*usage: tokensmith access-token/],
    ["create without --name", ["create", "--client", other.id], 2, /missing --name[\s\S]*usage: tokensmith access-token/],
    ["revoke without an id", ["revoke"], 2, /missing the access token id[\s\S]*usage: tokensmith access-token/],
    ["an unknown access-token command", ["frobnicate"], 2, /unknown access-token command "frobnicate"/],
  ])("%s: the exit code and the reason", async (_case, args, code, message) => {
    if (args.includes("dup")) await json(["access-token", "create", "--client", other.id, "--name", "dup"]);
    const result = await tokensmith(["access-token", ...args]);
    expect(result).toMatchObject({ code, stdout: "" });
    expect(result.stderr).toMatch(message);
  });

  it("`access-token --help`: 0, the usage; `help` lists it", async () => {
    expect(await ok(["access-token", "--help"])).toContain("usage: tokensmith access-token");
    expect(await ok(["help"])).toContain("access-token create|list|revoke");
  });
});
