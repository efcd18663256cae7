/**
 * RedisStore against real redis-server processes started by the harness
 * (never the shared server on 6379): the Store contract on standalone and on
 * a 3-master Cluster, then failure handling: crash, restart, stall,
 * unreachable, durability.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore } from "../../src/store/redis.js";
import { StoreUnavailableError, storeKeys } from "../../src/store/store.js";
import {
  freePort,
  startRedis,
  startRedisCluster,
  type RedisCluster,
  type RedisServer,
} from "../support/redis-server.js";
import { describeStoreContract } from "./store-contract.js";

/** The budget the Store interface promises for failing: ~1 s. */
const FAIL_FAST_MS = 1_000;

/** Each store gets its own prefix, so tests sharing a server never see each other's keys. */
const uniquePrefix = (): string => `test-${randomUUID()}:`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One call of every Store method (except close), each on its own key. */
function everyMethod(store: RedisStore): Array<[string, () => Promise<unknown>]> {
  return [
    ["get", () => store.get("m:get")],
    ["set", () => store.set("m:set", "v")],
    ["set ttl+nx", () => store.set("m:set-nx", "v", { ttlMs: 1_000, onlyIfAbsent: true })],
    ["getDel", () => store.getDel("m:getdel")],
    ["del", () => store.del("m:del")],
    ["incr", () => store.incr("m:incr", 1_000)],
    ["ttl", () => store.ttl("m:ttl")],
    ["feedAppend", () => store.feedAppend({ type: "m" }, { retainMs: 1_000 })],
    ["feedRead", () => store.feedRead(undefined, 10)],
    ["feedLast", () => store.feedLast()],
    ["deleteByPrefix", () => store.deleteByPrefix("m:prefix:", 10)],
    ["ping", () => store.ping()],
  ];
}

/** Asserts that `call` rejects with StoreUnavailableError (carrying the cause) within `budgetMs`. */
async function expectUnavailableWithin(label: string, budgetMs: number, call: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  const outcome = await call().then(
    (value: unknown) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  const elapsed = Date.now() - started;
  expect(outcome.ok, `${label} should have failed`).toBe(false);
  if (outcome.ok) return;
  expect(outcome.error, `${label} error type`).toBeInstanceOf(StoreUnavailableError);
  expect((outcome.error as StoreUnavailableError).cause, `${label} error cause`).toBeInstanceOf(Error);
  expect(elapsed, `${label} took ${elapsed} ms`).toBeLessThan(budgetMs);
}

/** Polls ping until it succeeds; resolves how long that took. */
async function waitForRecovery(store: RedisStore, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await store.ping();
      return Date.now() - started;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (Date.now() - started > timeoutMs) throw new Error(`store did not recover within ${timeoutMs} ms`, { cause: error });
      await sleep(50);
    }
  }
}

async function readyStandaloneStore(url: string, keyPrefix = uniquePrefix()): Promise<RedisStore> {
  const store = createRedisStore({ mode: "standalone", url, keyPrefix });
  await store.waitUntilReady();
  return store;
}

describe("RedisStore standalone", () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });

  afterAll(async () => {
    await server?.stop();
  });

  describeStoreContract("RedisStore standalone", async () => ({ store: await readyStandaloneStore(server.url) }));

  it("prefixes every key, by default with tokensmith:", async () => {
    const store = createRedisStore({ mode: "standalone", url: server.url });
    await store.waitUntilReady();
    try {
      const key = storeKeys.grant(randomUUID());
      await store.set(key, "v");
      expect(await server.command(["GET", `tokensmith:${key}`])).toBe("v");
      expect(await server.command(["EXISTS", key])).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("rejects a keyPrefix with braces, which would hijack the Cluster hash tag", () => {
    expect(() => createRedisStore({ mode: "standalone", url: server.url, keyPrefix: "{app}:" })).toThrow(/keyPrefix/);
  });

  it("close() is idempotent and later calls fail with StoreUnavailableError", async () => {
    const store = await readyStandaloneStore(server.url);
    expect(store.isReady()).toBe(true);
    await store.close();
    await store.close();
    expect(store.isReady()).toBe(false);
    for (const [label, call] of everyMethod(store)) {
      await expectUnavailableWithin(label, FAIL_FAST_MS, call);
    }
  });
});

describe("RedisStore cluster", () => {
  let cluster: RedisCluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  async function readyClusterStore(keyPrefix = uniquePrefix()): Promise<RedisStore> {
    const store = createRedisStore({ mode: "cluster", nodes: cluster.nodes, keyPrefix });
    await store.waitUntilReady();
    return store;
  }

  describeStoreContract("RedisStore cluster", async () => ({ store: await readyClusterStore() }));

  /** The server holding `rawKey`; the others answer MOVED, which rejects. */
  async function holderOf(rawKey: string): Promise<RedisServer[]> {
    const found = await Promise.all(
      cluster.servers.map((server) => server.command(["EXISTS", rawKey]).then((n) => n === 1, () => false)),
    );
    return cluster.servers.filter((_, i) => found[i]);
  }

  it("routes by the {hashtag} of the logical key, not by the prefix", async () => {
    const store = await readyClusterStore("tokensmith:");
    try {
      const [anyNode] = cluster.servers;
      if (anyNode === undefined) throw new Error("no cluster nodes");
      const ids = Array.from({ length: 12 }, () => randomUUID());
      const owners = new Set<number>();
      for (const id of ids) {
        const key = storeKeys.grant(id);
        await store.set(key, "v", { ttlMs: 60_000 });
        const rawKey = `tokensmith:${key}`;
        // Same slot as the bare hash tag: the prefix does not take part.
        expect(await anyNode.command(["CLUSTER", "KEYSLOT", rawKey])).toBe(
          await anyNode.command(["CLUSTER", "KEYSLOT", id]),
        );
        const holders = await holderOf(rawKey);
        expect(holders).toHaveLength(1);
        owners.add(holders[0]?.port ?? -1);
        await store.del(key);
      }
      // 12 random tags on 3 masters: they spread (a fixed prefix tag would pin them to one).
      expect(owners.size).toBeGreaterThan(1);
    } finally {
      await store.close();
    }
  });

  it("deleteByPrefix scans every master: a tenant's keys, spread over the Cluster by their hash tags, all go", async () => {
    const keyPrefix = uniquePrefix();
    const store = await readyClusterStore(keyPrefix);
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `t:spread:grant:{spread:${i}}`);
      for (const key of keys) await store.set(key, "v", { ttlMs: 60_000 });
      const holders = new Set((await Promise.all(keys.map((key) => holderOf(`${keyPrefix}${key}`)))).flat().map((server) => server.port));
      expect(holders.size).toBe(cluster.servers.length);
      expect(await store.deleteByPrefix("t:spread:", 7)).toBe(keys.length);
      for (const server of cluster.servers) expect(await server.command(["KEYS", `${keyPrefix}t:spread:*`])).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("fails fast when no node is reachable", async () => {
    const store = createRedisStore({
      mode: "cluster",
      nodes: [{ host: "127.0.0.1", port: await freePort() }],
      keyPrefix: uniquePrefix(),
    });
    try {
      for (const [label, call] of everyMethod(store)) {
        await expectUnavailableWithin(label, FAIL_FAST_MS, call);
      }
    } finally {
      const started = Date.now();
      await store.close();
      expect(Date.now() - started).toBeLessThan(FAIL_FAST_MS);
    }
  });
});

describe("RedisStore failure handling", () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function server(options?: { appendonly?: boolean }): Promise<RedisServer> {
    const started = await startRedis(options);
    cleanups.push(() => started.stop());
    return started;
  }

  async function store(url: string): Promise<RedisStore> {
    const created = await readyStandaloneStore(url);
    cleanups.push(() => created.close());
    return created;
  }

  it("every method rejects with StoreUnavailableError in < 1 s once Redis is killed", async () => {
    const redis = await server();
    const subject = await store(redis.url);
    await subject.set("k", "v");

    await redis.kill();

    for (const [label, call] of everyMethod(subject)) {
      await expectUnavailableWithin(label, FAIL_FAST_MS, call);
    }
    expect(subject.isReady()).toBe(false);
  });

  it("never reports ready while its socket is shut: a call that fails for it leaves isReady() false", async () => {
    // The server's FIN makes the socket unwritable a moment before ioredis
    // handles 'close' and leaves "ready"; a health check must not say ready then.
    const redis = await server();
    const subject = await store(redis.url);
    let failed = 0;
    let readyWhileFailing = 0;
    for (let round = 0; round < 30; round++) {
      await subject.waitUntilReady();
      await redis.command(["CLIENT", "KILL", "TYPE", "normal"]);
      const outcome = await subject.get("k").then(
        () => "answered",
        (error: unknown) => (error instanceof StoreUnavailableError ? "unavailable" : String(error)),
      );
      if (outcome === "answered") continue;
      expect(outcome).toBe("unavailable");
      failed++;
      if (subject.isReady()) readyWhileFailing++;
    }
    expect(failed).toBeGreaterThan(0);
    expect(readyWhileFailing).toBe(0);
  });

  it("the same instance works again after Redis restarts, without being recreated", async () => {
    const redis = await server();
    const subject = await store(redis.url);
    await redis.kill();
    await expectUnavailableWithin("get while down", FAIL_FAST_MS, () => subject.get("k"));
    // A write that was reported as failed must not be queued and replayed later.
    await expectUnavailableWithin("set while down", FAIL_FAST_MS, () => subject.set("ghost", "boo"));
    // Stay down for a while so the reconnect backoff grows to its cap.
    await sleep(3_000);

    await redis.restart();
    const recoveredIn = await waitForRecovery(subject, 10_000);
    // Backoff is capped at ~2 s, so recovery must not take much longer than that.
    expect(recoveredIn).toBeLessThan(4_000);
    expect(subject.isReady()).toBe(true);
    await sleep(100); // time for a (wrongly) replayed offline queue to land
    expect(await subject.get("ghost")).toBeNull();
    expect(await subject.set("k", "after restart")).toBe(true);
    expect(await subject.get("k")).toBe("after restart");
    expect(await subject.incr("n", 60_000)).toBe(1);
  });

  it("a stalled server (DEBUG SLEEP 2) makes calls fail within ~1 s, then the connection is usable again", async () => {
    const redis = await server();
    const subject = await store(redis.url);
    await subject.set("before", "v");

    const stall = redis.command(["DEBUG", "SLEEP", "2"], 10_000);
    await sleep(100); // let the server enter the sleep

    await Promise.all(
      everyMethod(subject).map(([label, call]) => expectUnavailableWithin(label, FAIL_FAST_MS, call)),
    );
    expect(await stall).toBe("OK");

    // Late replies to the timed-out commands must not be handed to new ones.
    expect(await subject.set("after", "fresh")).toBe(true);
    expect(await subject.get("after")).toBe("fresh");
    expect(await subject.get("before")).toBe("v");
  });

  it("fails fast when Redis was never reachable, and close() does not hang", async () => {
    const subject = createRedisStore({ mode: "standalone", url: `redis://127.0.0.1:${await freePort()}` });
    try {
      await expect(subject.waitUntilReady(300)).rejects.toBeInstanceOf(StoreUnavailableError);
      for (const [label, call] of everyMethod(subject)) {
        await expectUnavailableWithin(label, FAIL_FAST_MS, call);
      }
    } finally {
      const started = Date.now();
      await subject.close();
      expect(Date.now() - started).toBeLessThan(FAIL_FAST_MS);
    }
  });

  it("with appendonly + appendfsync always, a value written before kill -9 survives the restart", async () => {
    const redis = await server({ appendonly: true });
    const subject = await store(redis.url);
    await subject.set("durable", "yes");
    await subject.set("durable-ttl", "yes", { ttlMs: 60_000 });
    await subject.incr("durable-counter", 60_000);
    await subject.incr("durable-counter", 60_000);

    await redis.kill();
    await redis.restart();
    await waitForRecovery(subject, 10_000);

    expect(await subject.get("durable")).toBe("yes");
    expect(await subject.get("durable-ttl")).toBe("yes");
    expect(await subject.ttl("durable-ttl")).toBeGreaterThan(50_000);
    expect(await subject.incr("durable-counter", 60_000)).toBe(3);
  });
});
