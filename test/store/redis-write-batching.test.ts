/**
 * RedisStore sends the commands of one event-loop turn in one write per
 * connection (see TurnWriteBatcher in src/store/redis.ts), against real
 * redis-server processes: standalone, behind a Sentinel, and a 3-master
 * Cluster.
 *
 * The writes are counted on the store's own sockets: Node hands a corked
 * socket's buffered chunks to `_writev` in one call (one writev syscall) and
 * each uncorked write to `_write`. The counters wrap those two methods of
 * those socket instances and pass every call through unchanged.
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChangeFeed } from "../../src/domain/change-feed.js";
import { systemClock } from "../../src/domain/clock.js";
import { RevocationList } from "../../src/domain/revocation-list.js";
import { createRedisStore, type RedisStore } from "../../src/store/redis.js";
import { StoreUnavailableError } from "../../src/store/store.js";
import { startRedis, startRedisCluster, startRedisSentinel, type RedisServer } from "../support/redis-server.js";

interface WriteCounter {
  /** Per `_writev` call (several chunks in one syscall), the chunks it carried. */
  writev: number[];
  /** Calls of `_write` (one chunk). */
  write: number;
}

/** The store's connection sockets (one; on Cluster one per master); private to RedisStore, reached here only to count writes. */
function socketsOf(store: RedisStore): Socket[] {
  const client = (store as unknown as { client: { stream?: Socket; nodes?: (role: string) => Array<{ stream: Socket }> } }).client;
  const sockets = client.nodes ? client.nodes("master").map((node) => node.stream) : [client.stream];
  for (const socket of sockets) expect(socket, "a connection socket").toBeDefined();
  return sockets as Socket[];
}

class Writes {
  private readonly counters: WriteCounter[] = [];

  constructor(sockets: Socket[]) {
    for (const socket of sockets) this.counters.push(countWrites(socket));
  }

  reset(): void {
    for (const counter of this.counters) {
      counter.writev = [];
      counter.write = 0;
    }
  }

  /** Write calls (syscalls) per socket. */
  calls(): number[] {
    return this.counters.map((counter) => counter.write + counter.writev.length);
  }

  /** Chunks (commands) written over all sockets. */
  chunks(): number {
    return this.counters.reduce((sum, counter) => sum + counter.write + counter.writev.reduce((a, b) => a + b, 0), 0);
  }

  all(): WriteCounter[] {
    return this.counters;
  }
}

function countWrites(socket: Socket): WriteCounter {
  const counter: WriteCounter = { writev: [], write: 0 };
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
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

interface Deployment {
  /** The servers the store writes to (the master under Sentinel, every master of a Cluster). */
  servers: RedisServer[];
  /** A new store on it, not yet ready. */
  newStore(commandTimeoutMs?: number): RedisStore;
  stop(): Promise<void>;
}

const prefix = (): string => `test-${randomUUID()}:`;
/** These tests count the writes on each socket: no periodic maxmemory-policy check may land among them. */
const evictionPolicyRecheckMs = 3_600_000;

const deployments: Array<[string, () => Promise<Deployment>]> = [
  [
    "standalone",
    async () => {
      const server = await startRedis();
      return {
        servers: [server],
        newStore: (commandTimeoutMs) => createRedisStore({ mode: "standalone", url: server.url, keyPrefix: prefix(), commandTimeoutMs, evictionPolicyRecheckMs }),
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
        servers: [server],
        newStore: (commandTimeoutMs) =>
          createRedisStore({
            mode: "sentinel",
            sentinels: [{ host: "127.0.0.1", port: sentinel.port }],
            name: "batching",
            keyPrefix: prefix(),
            commandTimeoutMs,
            evictionPolicyRecheckMs,
          }),
        stop: async () => {
          await sentinel.stop();
          await server.stop();
        },
      };
    },
  ],
  [
    "Cluster",
    async () => {
      const cluster = await startRedisCluster();
      return {
        servers: cluster.servers,
        newStore: (commandTimeoutMs) => createRedisStore({ mode: "cluster", nodes: cluster.nodes, keyPrefix: prefix(), commandTimeoutMs, evictionPolicyRecheckMs }),
        stop: () => cluster.stop(),
      };
    },
  ],
];

describe.each(deployments)("RedisStore (%s) batches the writes of one event-loop turn", (mode, deploy) => {
  let deployment: Deployment;
  let store: RedisStore;
  let writes: Writes;

  beforeAll(async () => {
    deployment = await deploy();
    // Longer than the default 500 ms: one test keeps the servers asleep for a second.
    store = deployment.newStore(5_000);
    await store.waitUntilReady();
    // Cluster connects to its nodes on first use: one round first, so every master has its socket.
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.get(`warm:{${i}}`)));
    writes = new Writes(socketsOf(store));
  });

  afterAll(async () => {
    await store?.close();
    await deployment?.stop();
  });

  it("commands issued in one turn leave in a single write per connection, in order", async () => {
    await nextTurn();
    writes.reset();
    // Own hash tags, so on Cluster the keys spread over the masters.
    const sets = Array.from({ length: 50 }, (_, i) => store.set(`batch:{${i}}`, `value-${i}`));
    // Issued after the SETs in the same batch: must see their values.
    const gets = Array.from({ length: 50 }, (_, i) => store.get(`batch:{${i}}`));
    const counters = Array.from({ length: 5 }, () => store.incr("batch:counter", 60_000));

    expect(await Promise.all(sets)).toEqual(Array.from({ length: 50 }, () => true));
    expect(await Promise.all(gets)).toEqual(Array.from({ length: 50 }, (_, i) => `value-${i}`));
    expect(await Promise.all(counters)).toEqual([1, 2, 3, 4, 5]);
    expect(writes.chunks()).toBe(105);
    for (const calls of writes.calls()) expect(calls).toBeLessThanOrEqual(1);
    if (mode === "Cluster") expect(writes.calls()).toEqual([1, 1, 1]);
    else expect(writes.all()[0]).toEqual({ writev: [105], write: 0 });
  });

  it("a revocation and its change-feed entry leave together: two commands, at most one write per connection", async () => {
    const revocations = new RevocationList({ store, clock: systemClock, feed: new ChangeFeed({ store, retainMs: 60_000 }) });
    await nextTurn();
    writes.reset();
    await revocations.revoke(`jti-${randomUUID()}`, Math.floor(Date.now() / 1000) + 60);
    expect(writes.chunks()).toBe(2);
    for (const calls of writes.calls()) expect(calls).toBeLessThanOrEqual(1);
  });

  it("a later turn's commands are written before the earlier turn's replies arrive", async () => {
    // The servers sleep, so no reply can arrive while the turns below run.
    // A second, with 200 ms to get there first: margin for a loaded CI machine.
    const stalls = deployment.servers.map((server) => server.command(["DEBUG", "SLEEP", "1"], 5_000));
    await new Promise((resolve) => setTimeout(resolve, 200));
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
    expect(answered, "no reply while the servers sleep").toBe(0);
    // Auto-pipelining would still hold the later two until the first is answered.
    expect(writes.chunks(), "all three commands written").toBe(3);
    expect(await Promise.all([first, second, third])).toEqual([true, "1", false]);
    expect(await Promise.all(stalls)).toEqual(deployment.servers.map(() => "OK"));
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
    expect(sum(writes.calls())).toBe(200);
    expect(writes.chunks()).toBe(200);
  });

  it("commands held in a batch whose sockets die fail with StoreUnavailableError, and the store recovers", async () => {
    await nextTurn();
    const subject = deployment.newStore();
    try {
      await subject.waitUntilReady();
      await Promise.all(Array.from({ length: 30 }, (_, i) => subject.get(`warm:{${i}}`)));
      const sockets = socketsOf(subject);
      const held = Array.from({ length: 10 }, (_, i) => subject.get(`dies:{${i}}`));
      // Still in the turn that issued them: the commands sit in the corked sockets.
      expect(sum(sockets.map((socket) => socket.writableLength))).toBeGreaterThan(0);
      for (const socket of sockets) socket.destroy();

      const started = performance.now();
      const outcomes = await Promise.allSettled(held);
      expect(performance.now() - started).toBeLessThan(1_000);
      for (const outcome of outcomes) {
        expect(outcome.status).toBe("rejected");
        if (outcome.status === "rejected") expect(outcome.reason).toBeInstanceOf(StoreUnavailableError);
      }

      await expect
        .poll(async () => subject.set("dies:after", "ok").catch(() => false), { timeout: 10_000, interval: 100 })
        .toBe(true);
      expect(await subject.get("dies:after")).toBe("ok");
      // The connection that answered is a new one (on Cluster, other masters may reconnect later).
      expect(socketsOf(subject).some((socket) => !sockets.includes(socket))).toBe(true);
      if (mode !== "Cluster") expect(socketsOf(subject)).not.toContain(sockets[0]);
    } finally {
      await subject.close();
    }
  });
});
