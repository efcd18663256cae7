/**
 * RedisStore sends the commands of one event-loop turn in one write (see
 * TurnWriteBatcher in src/store/redis.ts), against a real redis-server.
 *
 * The writes are counted on the store's own socket: Node hands a corked
 * socket's buffered chunks to `_writev` in one call (one writev syscall) and
 * each uncorked write to `_write`. The counters wrap those two methods of
 * that one socket instance and pass every call through unchanged.
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore } from "../../src/store/redis.js";
import { StoreUnavailableError } from "../../src/store/store.js";
import { startRedis, startRedisSentinel, type RedisServer } from "../support/redis-server.js";

interface WriteCounter {
  /** Calls of `_writev` (several chunks in one syscall) and the chunks each carried. */
  writev: number[];
  /** Calls of `_write` (one chunk). */
  write: number;
  reset(): void;
}

/** The store's connection socket; private to RedisStore, reached here only to count its writes. */
function socketOf(store: RedisStore): Socket {
  const socket = (store as unknown as { client: { stream: Socket } }).client.stream;
  expect(socket, "the store's socket").toBeDefined();
  return socket;
}

function countWrites(socket: Socket): WriteCounter {
  const counter: WriteCounter = {
    writev: [],
    write: 0,
    reset() {
      counter.writev = [];
      counter.write = 0;
    },
  };
  const internals = socket as unknown as {
    _writev: (chunks: unknown[], callback: () => void) => void;
    _write: (chunk: unknown, encoding: string, callback: () => void) => void;
  };
  const writev = internals._writev.bind(socket);
  const write = internals._write.bind(socket);
  internals._writev = (chunks, callback) => {
    counter.writev.push(chunks.length);
    writev(chunks, callback);
  };
  internals._write = (chunk, encoding, callback) => {
    counter.write++;
    write(chunk, encoding, callback);
  };
  return counter;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Deployment {
  /** The server the store writes to (the master, under Sentinel). */
  server: RedisServer;
  /** A new store on it, not yet ready. */
  newStore(): RedisStore;
  stop(): Promise<void>;
}

const prefix = (): string => `test-${randomUUID()}:`;

const deployments: Array<[string, () => Promise<Deployment>]> = [
  [
    "standalone",
    async () => {
      const server = await startRedis();
      return {
        server,
        newStore: () => createRedisStore({ mode: "standalone", url: server.url, keyPrefix: prefix() }),
        stop: () => server.stop(),
      };
    },
  ],
  [
    "Sentinel",
    async () => {
      const server = await startRedis();
      const sentinel = await startRedisSentinel(server.port, "batching");
      return {
        server,
        newStore: () =>
          createRedisStore({ mode: "sentinel", sentinels: [{ host: "127.0.0.1", port: sentinel.port }], name: "batching", keyPrefix: prefix() }),
        stop: async () => {
          await sentinel.stop();
          await server.stop();
        },
      };
    },
  ],
];

describe.each(deployments)("RedisStore (%s) batches the writes of one event-loop turn", (_label, deploy) => {
  let deployment: Deployment;
  let server: RedisServer;
  let store: RedisStore;
  let writes: WriteCounter;

  beforeAll(async () => {
    deployment = await deploy();
    server = deployment.server;
    store = deployment.newStore();
    await store.waitUntilReady();
    writes = countWrites(socketOf(store));
  });

  afterAll(async () => {
    await store?.close();
    await deployment?.stop();
  });

  it("commands issued in one turn leave in a single writev, in order", async () => {
    await nextTurn();
    writes.reset();
    const sets = Array.from({ length: 50 }, (_, i) => store.set(`batch:${i}`, `value-${i}`));
    // Issued after the SETs in the same batch: must see their values.
    const gets = Array.from({ length: 50 }, (_, i) => store.get(`batch:${i}`));
    const counters = Array.from({ length: 5 }, () => store.incr("batch:counter", 60_000));

    expect(await Promise.all(sets)).toEqual(Array.from({ length: 50 }, () => true));
    expect(await Promise.all(gets)).toEqual(Array.from({ length: 50 }, (_, i) => `value-${i}`));
    expect(await Promise.all(counters)).toEqual([1, 2, 3, 4, 5]);
    expect(writes.writev).toEqual([105]);
    expect(writes.write).toBe(0);
  });

  it("a later turn's commands are written before the earlier turn's replies arrive", async () => {
    // The server sleeps, so no reply can arrive while the turns below run.
    const stall = server.command(["DEBUG", "SLEEP", "0.3"], 5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    writes.reset();
    let answered = 0;
    const first = store.set("turns:a", "1").finally(() => answered++);
    await nextTurn();
    // A timer and an immediate issue theirs in later turns.
    const second = new Promise<string | null>((resolve, reject) => {
      setTimeout(() => store.get("turns:a").then(resolve, reject).finally(() => answered++), 0);
    });
    const third = new Promise<boolean>((resolve, reject) => {
      setImmediate(() => store.del("turns:missing").then(resolve, reject).finally(() => answered++));
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await nextTurn();
    expect(answered, "no reply while the server sleeps").toBe(0);
    // Auto-pipelining would still hold the later two until the first is answered.
    const chunks = writes.write + writes.writev.reduce((sum, n) => sum + n, 0);
    expect(chunks, "all three commands written").toBe(3);
    expect(await Promise.all([first, second, third])).toEqual([true, "1", false]);
    expect(await stall).toBe("OK");
  });

  it("a chain of awaited commands runs one command per turn, none stalls", async () => {
    await nextTurn();
    writes.reset();
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      expect(await store.incr("chain:counter", 60_000)).toBe(i + 1);
    }
    // One round trip per command on loopback: far below the 500 ms command timeout each.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(writes.write).toBe(200);
    expect(writes.writev).toEqual([]);
  });

  it("commands held in a batch whose socket dies fail with StoreUnavailableError, and the store recovers", async () => {
    await nextTurn();
    const subject = deployment.newStore();
    try {
      await subject.waitUntilReady();
      const socket = socketOf(subject);
      const held = Array.from({ length: 10 }, (_, i) => subject.get(`dies:${i}`));
      // Still in the turn that issued them: the commands sit in the corked socket.
      expect(socket.writableLength).toBeGreaterThan(0);
      socket.destroy();

      const started = performance.now();
      const outcomes = await Promise.allSettled(held);
      expect(performance.now() - started).toBeLessThan(1_000);
      for (const outcome of outcomes) {
        expect(outcome.status).toBe("rejected");
        if (outcome.status === "rejected") expect(outcome.reason).toBeInstanceOf(StoreUnavailableError);
      }

      await subject.waitUntilReady(5_000);
      expect(socketOf(subject)).not.toBe(socket);
      expect(await subject.set("dies:after", "ok")).toBe(true);
      expect(await subject.get("dies:after")).toBe("ok");
    } finally {
      await subject.close();
    }
  });
});
