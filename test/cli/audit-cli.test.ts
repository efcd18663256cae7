import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { RunningServer } from "../../src/server.js";
import { ADMIN_SCOPE } from "../support/admin.js";
import { runCli } from "../support/cli-process.js";
import { basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";

/** `tokensmith audit` (issue 21 item 3) as an operator runs it against a running server: a table, --json, filters, exit codes. */

const admin = testClient("audit-cli-admin", [ADMIN_SCOPE]);
const reader = testClient("audit-cli-reader", ["orders:read"]);
let server: RunningServer;
const secrets: string[] = [];

const audit = async (args: string[], as = admin) => {
  const run = runCli(["audit", ...args], { TOKENSMITH_URL: server.url, TOKENSMITH_CLIENT_ID: as.id, TOKENSMITH_CLIENT_SECRET: as.secret });
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
};

beforeAll(async () => {
  server = await startTestServer({ clients: [admin, reader] });
  const transport = createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" });
  const token = (await tokenClient(transport).issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: basic(admin.id, admin.secret) })).accessToken;
  const rpc = createClient(AdminService, transport);
  const headers = { authorization: `Bearer ${token}` };
  secrets.push((await rpc.createClient({ id: "orders", scopes: ["orders:read"] }, { headers: { ...headers, "x-request-id": "cli-req-1" } })).clientSecret);
  secrets.push((await rpc.createApiKey({ name: "backend", scopes: ["passkey:read"] }, { headers })).key);
  await rpc.deleteClient({ id: "orders" }, { headers });
});
afterAll(async () => {
  await server?.close();
});

describe("tokensmith audit", () => {
  it("prints the trail newest first as a table, with actor, target, peer, request id and details, and no secret", async () => {
    const { code, stdout, stderr } = await audit([]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+KIND\s+ACTOR\s+TARGET\s+PEER\s+REQUEST ID\s+DETAILS$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/)[1])).toEqual(["client.deleted", "api_key.created", "client.created"]);
    expect(lines[3]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+client\.created\s+audit-cli-admin\s+orders\s+\S*127\.0\.0\.1\s+cli-req-1\s+scopes=orders:read$/);
    for (const secret of secrets) expect(stdout).not.toContain(secret);
  });

  it("filters by kind, target and actor, takes --since as a duration, stops at --limit, and prints --json", async () => {
    const { code, stdout } = await audit(["--kind", "client.created", "--target", "orders", "--actor", admin.id, "--since", "1h", "--limit", "5", "--json"]);
    expect(code).toBe(0);
    const { events } = JSON.parse(stdout) as { events: Array<Record<string, unknown>> };
    expect(events).toEqual([
      expect.objectContaining({ kind: "client.created", target: "orders", actorClientId: admin.id, actorTenant: "default", tenant: "default", requestId: "cli-req-1", details: { scopes: "orders:read" } }),
    ]);
    const limited = await audit(["--limit", "1", "--json"]);
    expect((JSON.parse(limited.stdout) as { events: Array<{ kind: string }> }).events.map((event) => event.kind)).toEqual(["client.deleted"]);
    const future = await audit(["--since", "2999-01-01T00:00:00Z"]);
    expect(future.stdout.trimEnd().split("\n")).toHaveLength(1);
  });

  it.each<[string, string[], number, RegExp]>([
    ["a --since that is neither a time nor a duration", ["--since", "yesterday"], 2, /--since must be an ISO 8601 time/],
    ["an --until before the --since", ["--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"], 2, /--until is before --since/],
    ["a --limit of 0", ["--limit", "0"], 2, /--limit must be a whole number from 1 to 10000/],
    ["an unknown kind (the server's InvalidArgument)", ["--kind", "client.exploded"], 4, /kind must be one of/],
  ])("refuses %s with a usage (2) or rejected (4) exit code", async (_case, args, exitCode, message) => {
    const { code, stderr, stdout } = await audit(args);
    expect({ code, stdout }).toEqual({ code: exitCode, stdout: "" });
    expect(stderr).toMatch(message);
  });

  it("exits 3 for a client without tokensmith:admin", async () => {
    const { code, stderr } = await audit([], reader);
    expect(code).toBe(3);
    expect(stderr).toMatch(/tokensmith:admin/);
  });
});
