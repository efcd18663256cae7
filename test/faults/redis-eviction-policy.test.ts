import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { createRedisStore } from "../../src/store/redis.js";
import { EvictionPolicyError } from "../../src/store/eviction-policy.js";
import { eventually } from "../support/eventually.js";
import { startRedis, startRedisCluster, type RedisServer } from "../support/redis-server.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * Issue 16: a Redis that evicts under memory pressure drops revocations, used
 * client-assertion ids and the signing key ring. Tokensmith refuses to start
 * on one, and stops serving what depends on the store when it finds one later.
 */

const orders = testClient("orders", ["orders:read"]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const apiKey = generateSecret("api_key");
const apiKeys = [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] }];
const refusal = /has maxmemory-policy (\S+): set maxmemory-policy noeviction/;

describe("start-up refuses a Redis that may evict", () => {
  it.each(["allkeys-lru", "volatile-lru"])("standalone with %s: the message says what to set and why", async (policy) => {
    const redis = await startRedis({ args: ["--maxmemory-policy", policy] });
    try {
      const start = startTestServer({ config: { store: { type: "redis", url: redis.url } } });
      await expect(start).rejects.toThrow(`Redis at 127.0.0.1:${redis.port} has maxmemory-policy ${policy}: set maxmemory-policy noeviction`);
      await expect(start).rejects.toThrow(/revoked tokens/);
    } finally {
      await redis.stop();
    }
  });

  it("where CONFIG is disabled (managed Redis), reads the policy from INFO memory", async () => {
    const evicting = await startRedis({ args: ["--rename-command", "CONFIG", "", "--maxmemory-policy", "allkeys-lru"] });
    const safe = await startRedis({ args: ["--rename-command", "CONFIG", ""] });
    try {
      await expect(evicting.command(["CONFIG", "GET", "maxmemory-policy"])).rejects.toThrow(/unknown command/);
      await expect(startTestServer({ config: { store: { type: "redis", url: evicting.url } } })).rejects.toThrow(refusal);
      const server = await startTestServer({ config: { store: { type: "redis", url: safe.url } } });
      try {
        expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      } finally {
        await server.close();
      }
    } finally {
      await Promise.all([evicting.stop(), safe.stop()]);
    }
  });

  it("a Cluster with one evicting master among three, naming that master", async () => {
    const cluster = await startRedisCluster();
    try {
      const evicting = cluster.servers[2]!;
      await evicting.command(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
      await expect(startTestServer({ config: { store: { type: "redis", clusterNodes: cluster.nodes } } })).rejects.toThrow(
        `Redis at 127.0.0.1:${evicting.port} has maxmemory-policy allkeys-lru: set maxmemory-policy noeviction`,
      );
      await evicting.command(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
      const server = await startTestServer({ config: { store: { type: "redis", clusterNodes: cluster.nodes } } });
      await server.close();
    } finally {
      await cluster.stop();
    }
  });
});

describe("an eviction policy found while running", () => {
  let redis: RedisServer;
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;
  const introspector = { headers: basic(resourceServer.id, resourceServer.secret) };
  const owner = { headers: basic(orders.id, orders.secret) };

  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({ clients: [orders, resourceServer], config: { store: { type: "redis", url: redis.url }, apiKeys } });
    rpc = tokenClient(transports["grpc (HTTP/2)"](server.url));
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  const health = () => createClient(Health, createGrpcTransport({ baseUrl: server.url })).check({ service: "" });
  const readyz = async () => {
    const response = await fetch(`${server.url}/readyz`);
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const setPolicy = (policy: string) => redis.command(["CONFIG", "SET", "maxmemory-policy", policy]);
  /** Drops Tokensmith's connections; ioredis reconnects by itself. */
  const forceReconnect = () => redis.command(["CLIENT", "KILL", "TYPE", "normal"]);
  const clientsConnected = async () => {
    const list = await redis.command(["CLIENT", "LIST", "TYPE", "normal"]);
    // Our own CLIENT LIST connection is one of them.
    return String(list).trim().split("\n").length >= 2;
  };

  /** What depends on the store's keys surviving: introspection, revocation, grants, and spending them. */
  async function expectRevocationDependentCallsUnavailable(accessToken: string, grant: string): Promise<void> {
    for (const call of [
      () => rpc.introspect({ token: accessToken }, introspector),
      () => rpc.revoke({ token: accessToken }, owner),
      () => rpc.issueGrant({ username: "bob", grants: ["passkey:read"] }, { headers: apiKeyAuth(apiKey) }),
      () => rpc.introspect({ token: grant, consume: true }, { headers: apiKeyAuth(apiKey) }),
    ]) {
      await expectRpcError(call(), Code.Unavailable, "temporarily_unavailable");
    }
  }

  it("after a reconnect: not ready, NOT_SERVING, Unavailable; noeviction and a reconnect make it ready again", async () => {
    const { accessToken } = await rpc.issueClientToken({}, owner);
    const grant = (await rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuth(apiKey) })).token;

    await setPolicy("allkeys-lru");
    await forceReconnect();
    await eventually(clientsConnected);
    await expectRevocationDependentCallsUnavailable(accessToken, grant);
    expect(await readyz()).toEqual({ status: 503, body: { status: "store_evicts" } });
    expect((await health()).status).toBe(ServingStatus.NOT_SERVING);

    await setPolicy("noeviction");
    await forceReconnect();
    await eventually(async () => (await readyz()).status === 200);
    expect((await health()).status).toBe(ServingStatus.SERVING);
    expect((await rpc.introspect({ token: accessToken }, introspector)).active).toBe(true);
    expect((await rpc.introspect({ token: grant, consume: true }, { headers: apiKeyAuth(apiKey) })).active).toBe(true);
    await rpc.revoke({ token: accessToken }, owner);
    expect((await rpc.introspect({ token: accessToken }, introspector)).active).toBe(false);
  });

  it("a CONFIG SET without a reconnect is found by the next readiness probe, and its undoing too", async () => {
    const { accessToken } = await rpc.issueClientToken({}, owner);
    const grant = (await rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuth(apiKey) })).token;
    await setPolicy("volatile-lru");
    try {
      expect(await readyz()).toEqual({ status: 503, body: { status: "store_evicts" } });
      await expectRevocationDependentCallsUnavailable(accessToken, grant);
    } finally {
      await setPolicy("noeviction");
    }
    expect((await readyz()).status).toBe(200);
    expect((await rpc.introspect({ token: accessToken }, introspector)).active).toBe(true);
  });
});

describe("the Redis store rechecks the policy on its own", () => {
  it("refuses commands once a periodic check finds an evicting policy, and serves again once fixed", async () => {
    const redis = await startRedis();
    const store = createRedisStore({ mode: "standalone", url: redis.url, evictionPolicyRecheckMs: 50 });
    try {
      await store.waitUntilReady();
      await store.set("k", "v");
      await redis.command(["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
      await eventually(() => store.get("k").then(() => false, (error: unknown) => error instanceof EvictionPolicyError));
      await expect(store.get("k")).rejects.toThrow(/has maxmemory-policy allkeys-random: set maxmemory-policy noeviction/);
      await redis.command(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
      await eventually(async () => (await store.get("k")) === "v");
    } finally {
      await store.close();
      await redis.stop();
    }
  });
});
