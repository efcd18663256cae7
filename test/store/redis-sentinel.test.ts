/**
 * RedisStore in Sentinel mode against real processes: a master, a replica
 * and one Sentinel (quorum 1) started by the harness. The Store contract,
 * then a failover: the master is killed, Sentinel promotes the replica, and
 * the same store instance serves from the new master without a restart,
 * failing fast (never hanging) in between.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore } from "../../src/store/redis.js";
import { StoreUnavailableError } from "../../src/store/store.js";
import { startRedis, startRedisSentinel, type RedisServer } from "../support/redis-server.js";
import { describeStoreContract } from "./store-contract.js";

const MASTER_NAME = "tokensmith-test";
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface SentinelSetup {
  master: RedisServer;
  replica: RedisServer;
  sentinel: RedisServer;
  store: RedisStore;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServers(track: (stop: () => Promise<void>) => void): Promise<Omit<SentinelSetup, "store">> {
  const master = await startRedis();
  track(() => master.stop());
  // Redis 7 waits 5 s for more replicas before a diskless full sync; there is only one.
  await master.command(["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
  const replica = await startRedis({ replicaOf: master.port });
  track(() => replica.stop());
  const sentinel = await startRedisSentinel(master.port, MASTER_NAME);
  track(() => sentinel.stop());
  return { master, replica, sentinel };
}

function sentinelStore(sentinel: RedisServer): RedisStore {
  return createRedisStore({
    mode: "sentinel",
    sentinels: [{ host: "127.0.0.1", port: sentinel.port }],
    name: MASTER_NAME,
    keyPrefix: `test-${randomUUID()}:`,
  });
}

/** Fresh servers and a ready store, all stopped after the test. */
async function sentinelSetup(): Promise<SentinelSetup> {
  const servers = await startServers((stop) => cleanups.push(stop));
  const store = sentinelStore(servers.sentinel);
  cleanups.push(() => store.close());
  await store.waitUntilReady();
  return { ...servers, store };
}

/** The master Sentinel names now, as "host:port". */
async function masterAddress(sentinel: RedisServer): Promise<string> {
  const reply = await sentinel.command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME]);
  return Array.isArray(reply) ? reply.join(":") : String(reply);
}

describe("RedisStore Sentinel", () => {
  describe("one deployment, a fresh store per test", () => {
    const stops: Array<() => Promise<void>> = [];
    let sentinel: RedisServer;
    beforeAll(async () => {
      ({ sentinel } = await startServers((stop) => stops.push(stop)));
    });
    afterAll(async () => {
      for (const stop of stops.splice(0).reverse()) await stop();
    });
    describeStoreContract("RedisStore sentinel", async () => {
      const store = sentinelStore(sentinel);
      await store.waitUntilReady();
      return { store };
    });
  });

  it("writes go to the master Sentinel names, and replicate", async () => {
    const { master, replica, sentinel, store } = await sentinelSetup();
    expect(await masterAddress(sentinel)).toBe(`127.0.0.1:${master.port}`);
    await store.set("where", "master");
    const keys = await master.command(["KEYS", "test-*:where"]);
    expect(Array.isArray(keys) && keys.length).toBe(1);
    const key = (keys as string[])[0]!;
    await expect.poll(() => replica.command(["GET", key]), { timeout: 15_000 }).toBe("master");
  });

  it("after the master is killed, the same store fails fast, then serves from the promoted replica", async () => {
    const { master, replica, sentinel, store } = await sentinelSetup();
    await store.set("before-failover", "kept");
    // Replication is asynchronous: wait until the replica has the value.
    await expect
      .poll(async () => {
        const keys = await replica.command(["KEYS", "test-*:before-failover"]);
        return Array.isArray(keys) ? keys.length : 0;
      }, { timeout: 15_000 })
      .toBe(1);

    await master.kill();

    // Until the promotion every call either works or fails within ~1 s; none hangs.
    const started = Date.now();
    let recovered = false;
    let failures = 0;
    while (Date.now() - started < 30_000) {
      const callStarted = Date.now();
      try {
        await store.set("after-failover", "written");
        recovered = true;
        break;
      } catch (error) {
        expect(error).toBeInstanceOf(StoreUnavailableError);
        failures++;
      }
      expect(Date.now() - callStarted).toBeLessThan(1_500);
      await sleep(100);
    }
    expect(recovered, "the store recovered after the failover").toBe(true);
    expect(failures, "calls failed while there was no master").toBeGreaterThan(0);
    expect(await masterAddress(sentinel)).toBe(`127.0.0.1:${replica.port}`);
    expect(await store.get("before-failover")).toBe("kept");
    expect(await store.get("after-failover")).toBe("written");
    const onNewMaster = await replica.command(["KEYS", "test-*:after-failover"]);
    expect(Array.isArray(onNewMaster) && onNewMaster.length).toBe(1);
  }, 40_000);
});
