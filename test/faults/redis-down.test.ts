import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { storeKeys } from "../../src/store/store.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { capturedLog } from "../support/captured-log.js";
import { eventually } from "../support/eventually.js";
import { decodeJwt } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read"]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const apiKey = generateSecret("api_key");
const introspector = { headers: basic(resourceServer.id, resourceServer.secret) };
const apiKeyAuth = { authorization: `Basic ${Buffer.from(`${apiKey}:`).toString("base64")}` };

describe("Redis goes away and comes back", () => {
  let redis: RedisServer;
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;

  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    server = await startTestServer({
      clients: [orders, resourceServer],
      config: {
        store: { type: "redis", url: redis.url },
        apiKeys: [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] }],
      },
    });
    rpc = tokenClient(transports["grpc (HTTP/2)"](server.url));
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it("fails closed and fast while Redis is down, then recovers without a restart", async () => {
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    const grant = await rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuth });
    await redis.kill();

    for (const call of [
      () => rpc.introspect({ token: accessToken }, introspector),
      () => rpc.introspect({ token: grant.token }, introspector),
      () => rpc.issueGrant({ username: "bob", grants: ["passkey:read"] }, { headers: apiKeyAuth }),
      () => rpc.revoke({ token: accessToken }, { headers: basic(orders.id, orders.secret) }),
    ]) {
      const started = Date.now();
      const error = await expectRpcError(call(), Code.Unavailable, "temporarily_unavailable");
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(error.metadata.get("retry-after")).toBe("1");
    }

    await redis.restart();
    await eventually(async () => (await rpc.introspect({ token: accessToken }, introspector)).active === true);
    // The AOF kept the grant issued before the crash.
    expect((await rpc.introspect({ token: grant.token }, introspector)).active).toBe(true);
    await rpc.revoke({ token: accessToken }, { headers: basic(orders.id, orders.secret) });
    expect((await rpc.introspect({ token: accessToken }, introspector)).active).toBe(false);
  });

  it("a Redis that stops answering (DEBUG SLEEP) gives Unavailable within a second, never a hang", async () => {
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    const sleeping = redis.command(["DEBUG", "SLEEP", "2"], 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await expectRpcError(rpc.introspect({ token: accessToken }, introspector), Code.Unavailable, "temporarily_unavailable");
    expect(Date.now() - started).toBeLessThan(1_000);
    const http = await fetch(`${server.url}/oauth2/introspect`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...basic(resourceServer.id, resourceServer.secret) },
      body: new URLSearchParams({ token: accessToken }).toString(),
    });
    expect(http.status).toBe(503);
    expect(http.headers.get("retry-after")).toBe("1");
    await sleeping;
    await eventually(async () => (await rpc.introspect({ token: accessToken }, introspector)).active === true);
  });

  it("a revocation whose feed entry cannot be written answers Unavailable (RPC and HTTP); retried once it can, it is acknowledged and in the feed", async () => {
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    const { jti } = decodeJwt(accessToken).payload as { jti: string };
    // A real Redis refusing just the feed's XADD (WRONGTYPE) while it stores the revocation itself.
    const feedKey = `tokensmith:${storeKeys.feed()}`;
    await redis.command(["DEL", feedKey]);
    await redis.command(["SET", feedKey, "not a stream"]);
    try {
      await expectRpcError(rpc.revoke({ token: accessToken }, { headers: basic(orders.id, orders.secret) }), Code.Unavailable, "temporarily_unavailable");
      const http = await fetch(`${server.url}/oauth2/revoke`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...basic(orders.id, orders.secret) },
        body: new URLSearchParams({ token: accessToken }).toString(),
      });
      expect(http.status).toBe(503);
    } finally {
      await redis.command(["DEL", feedKey]);
    }
    await rpc.revoke({ token: accessToken }, { headers: basic(orders.id, orders.secret) });
    const { entries } = await server.domain.feed.read(undefined, 100);
    expect(entries.map((entry) => entry.event)).toContainEqual({ type: "access_token_revoked", jti, exp: expect.any(Number) });
    expect((await rpc.introspect({ token: accessToken }, introspector)).active).toBe(false);
  });

  it("a revocation acknowledged before kill -9 is still in force after restart (AOF, appendfsync always)", async () => {
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    await rpc.revoke({ token: accessToken }, { headers: basic(orders.id, orders.secret) });
    await redis.kill();
    await redis.restart();
    await eventually(async () => {
      await server.domain.store.ping();
      return true;
    });
    expect((await rpc.introspect({ token: accessToken }, introspector)).active).toBe(false);
  });
});

describe("Redis down while requests keep failing: the log says so once, then a count per interval, then that it is back (issue 16, item 10c)", () => {
  let redis: RedisServer;
  let server: RunningServer;
  const log = capturedLog("info");

  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({
      clients: [orders, resourceServer],
      logger: log.logger,
      config: { store: { type: "redis", url: redis.url }, storeOutageLogSeconds: 0.5 },
    });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it("200 failed requests over RPC and HTTP give one warning and summary lines with their count, not 200 lines", async () => {
    const rpc = tokenClient(transports["grpc (HTTP/2)"](server.url));
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    await redis.kill();
    const introspectOverHttp = () =>
      fetch(`${server.url}/oauth2/introspect`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...basic(resourceServer.id, resourceServer.secret) },
        body: new URLSearchParams({ token: accessToken }).toString(),
      });
    for (let round = 0; round < 100; round++) {
      await expectRpcError(rpc.introspect({ token: accessToken }, introspector), Code.Unavailable, "temporarily_unavailable");
      expect((await introspectOverHttp()).status).toBe(503);
    }
    expect(log.matching(/^store unavailable$/)).toHaveLength(1);
    const summary = await log.next(/^store unavailable: \d+ requests failed in the last 0\.5 s$/);
    const summaries = log.matching(/^store unavailable: \d+ requests failed/);
    // Every failure is counted once: the first in the warning, the rest in summaries (those logged so far, and the ones still to come).
    expect(summaries.reduce((sum, line) => sum + Number(line.failed), 0)).toBeLessThanOrEqual(199);
    expect(summary.level).toBe(40);

    const before = log.lines.length;
    await redis.restart();
    const recovered = await log.next(/^store available again/, { after: before });
    expect(recovered).toMatchObject({ level: 30, failedInOutage: 200 });
    expect(log.matching(/^store unavailable$/)).toHaveLength(1);
    expect(log.lines.filter((line) => /^store unavailable/.test(line.msg)).length).toBeLessThan(20);
  });
});
