import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { eventually } from "../support/eventually.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read"]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const apiKey = generateSecret("api_key");
const apiKeyAuth = { authorization: `Basic ${Buffer.from(`${apiKey}:`).toString("base64")}` };

describe("Redis goes away and comes back", () => {
  let redis: RedisServer;
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;
  const introspector = { headers: basic(resourceServer.id, resourceServer.secret) };

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
    await eventually(async () => (await rpc.introspect({ token: accessToken }, introspector)).active);
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
    await eventually(async () => (await rpc.introspect({ token: accessToken }, introspector)).active);
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
