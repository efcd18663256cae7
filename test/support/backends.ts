import type { ConfigInput } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { RunningServer, StartOptions } from "../../src/server.js";
import { afterAll, afterEach, beforeAll } from "vitest";
import { startRedis, startRedisCluster, type RedisCluster, type RedisServer, type RedisServerOptions } from "./redis-server.js";

/** A store deployment that RPC tests run against: embedded memory, standalone Redis, or a 3-master Cluster. */
export interface Backend {
  readonly name: string;
  /** Start whatever the backend needs (once per describe). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What to give startTestServer: a store config, or a store object plus its clock. */
  serverOptions(): { config: Partial<ConfigInput> } & StartOptions;
  /** Moves time forward: the fake clock for memory, real waiting for Redis (its TTLs run on its own clock). */
  advance(ms: number): Promise<void>;
}

export function memoryBackend(): Backend & { clock: ManualClock } {
  const clock = new ManualClock(Date.now());
  let store: MemoryStore | undefined;
  return {
    name: "memory",
    clock,
    async start() {
      store = new MemoryStore(clock);
    },
    async stop() {
      await store?.close();
    },
    serverOptions() {
      return { config: {}, store, clock };
    },
    async advance(ms) {
      clock.advance(ms);
    },
  };
}

const realWait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** @param options for the redis-server, e.g. `{ appendonly: true }` so that acknowledged writes survive `kill()` and `restart()`. */
export function redisBackend(options: RedisServerOptions = {}): Backend & { redis(): RedisServer } {
  let server: RedisServer | undefined;
  return {
    name: "redis standalone",
    async start() {
      server = await startRedis(options);
    },
    async stop() {
      await server?.stop();
    },
    serverOptions() {
      return { config: { store: { type: "redis", url: server!.url, keyPrefix: `t${Math.random().toString(36).slice(2, 8)}:` } } };
    },
    advance: realWait,
    redis: () => server!,
  };
}

export function clusterBackend(): Backend & { cluster(): RedisCluster } {
  let cluster: RedisCluster | undefined;
  return {
    name: "redis cluster",
    async start() {
      cluster = await startRedisCluster();
    },
    async stop() {
      await cluster?.stop();
    },
    serverOptions() {
      return { config: { store: { type: "redis", clusterNodes: cluster!.nodes } } };
    },
    advance: realWait,
    cluster: () => cluster!,
  };
}

/** Every store a test can run on, named for test titles (`describe.each(EVERY_BACKEND)("… on %s", …)`). */
export const EVERY_BACKEND: Array<[name: string, make: () => Backend]> = [
  ["memory", memoryBackend],
  ["redis standalone", redisBackend],
  ["redis cluster", clusterBackend],
];

/**
 * For a test file whose tests each start Tokensmith servers on one real
 * redis-server (call it inside the describe): Redis starts once for the
 * file; after each test its servers are closed and the data flushed.
 */
export function serversOnRedis(): { redis(): RedisServer; track(server: RunningServer): RunningServer } {
  let redis: RedisServer | undefined;
  const servers: RunningServer[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await redis?.command(["FLUSHALL"]);
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return {
    redis: () => redis!,
    track(server) {
      servers.push(server);
      return server;
    },
  };
}
