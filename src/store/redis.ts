/**
 * The Redis-backed Store (standalone, Sentinel or Cluster), on ioredis.
 *
 * Failure policy: fail fast and recover by itself.
 * - No offline queue: while disconnected, commands reject at once instead of
 *   piling up (and running later, after the caller was already told they
 *   failed).
 * - `commandTimeout` bounds a command that was sent but not answered (slow
 *   or hung server). On Cluster a per-call deadline on top bounds everything
 *   else (redirection retries, commands queued on a node connection that is
 *   reconnecting), so no method ever hangs.
 * - Lost in-flight commands are not replayed on reconnect: a replayed GETDEL
 *   would consume a value whose caller already got an error. (Cluster's own
 *   redirection retries, e.g. during a failover, still resend within the
 *   deadline; a caller that timed out must treat the outcome as unknown.)
 * - Reconnection never gives up (capped backoff), so the service heals when
 *   Redis comes back, without a restart.
 * Every failure surfaces as StoreUnavailableError with the ioredis error as
 * `cause`.
 *
 * Eviction: every master's maxmemory-policy is read on each (re)connection,
 * on every `ping()` (readiness probes) and every `evictionPolicyRecheckMs`
 * (an operator's CONFIG SET needs no reconnect). From a lost connection
 * until the new one's check passes, and while any master may evict, every
 * call rejects: EvictionPolicyError names the master and what to set (see
 * eviction-policy.ts).
 */
import type { Writable } from "node:stream";
import type { Socket } from "node:net";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { EvictionPolicyError, readEvictionPolicy, SAFE_EVICTION_POLICY } from "./eviction-policy.js";
import { requireFeedCursor } from "./feed-cursor.js";
import {
  checkDeleteByPrefix,
  StoreUnavailableError,
  storeKeys,
  type FeedEntry,
  type FeedFields,
  type FeedPage,
  type SetOptions,
  type Store,
  type StreamRange,
} from "./store.js";

export interface RedisEndpoint {
  host: string;
  port: number;
}

interface CommonRedisStoreOptions {
  /** Prepended to every logical key. Default "tokensmith:". Must not contain `{` or `}`. */
  keyPrefix?: string;
  /** How long one command may take before it fails. Default 500 ms. */
  commandTimeoutMs?: number;
  /**
   * Connection-level errors (refused, reset, reconnect attempts). Commands
   * report their own failures; this is for logging. Default: ignored.
   */
  onConnectionError?: (error: Error) => void;
  /** How often every master's maxmemory-policy is read again without a reconnect. Default 10 s. */
  evictionPolicyRecheckMs?: number;
}

export type RedisStoreOptions = CommonRedisStoreOptions &
  (
    | { mode: "standalone"; url: string }
    | {
        mode: "sentinel";
        sentinels: RedisEndpoint[];
        /** The master group name the sentinels monitor. */
        name: string;
        /** Password of the Redis master/replicas. */
        password?: string;
        /** Password of the sentinels themselves, when they require one. */
        sentinelPassword?: string;
      }
    | { mode: "cluster"; nodes: RedisEndpoint[]; password?: string }
  );

const DEFAULT_KEY_PREFIX = "tokensmith:";
const DEFAULT_COMMAND_TIMEOUT_MS = 500;
/** Slack on top of commandTimeout for the per-call deadline; ioredis' own timeout should fire first. */
const DEADLINE_SLACK_MS = 100;
const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 2_000;
/** A connect attempt to a black-holed host is abandoned after this, then retried. */
const CONNECT_TIMEOUT_MS = 2_000;
const DEFAULT_EVICTION_POLICY_RECHECK_MS = 10_000;
/** After a reconnect whose policy check was not answered, ask again this soon rather than at the next period. */
const EVICTION_POLICY_RETRY_MS = 250;

/**
 * Reconnect forever: exponential backoff capped at RECONNECT_MAX_MS, with
 * jitter so many instances do not reconnect in lockstep. Always returns a
 * number: returning anything else would make ioredis give up for good.
 */
function reconnectDelay(attempt: number): number {
  const exponential = RECONNECT_BASE_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 10);
  return Math.min(exponential, RECONNECT_MAX_MS) + Math.floor(Math.random() * 100);
}

/**
 * INCR whose first increment starts the TTL, atomically. SET NX creates the
 * counter at 0 with the TTL only when it does not exist yet (an existing
 * counter keeps its TTL, or lack of one, exactly like MemoryStore); the
 * INCR then counts. One key, so it is single-slot in Cluster.
 */
const INCR_WITH_TTL_LUA = `
redis.call('SET', KEYS[1], '0', 'PX', ARGV[1], 'NX')
return redis.call('INCR', KEYS[1])
`;

/**
 * HSET only while the field holds the expected value (a missing field, nil
 * to Lua, equals no string). Redis runs a script atomically, and it touches
 * one key, so it is single-slot in Cluster.
 */
const HASH_COMPARE_AND_SET_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;

/** HDEL only while the field holds the expected value; atomic and single-slot like the above. */
const HASH_COMPARE_AND_DELETE_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
`;

/** Registered via the `scripts` option; ioredis runs them with EVALSHA and falls back to EVAL on NOSCRIPT. */
interface ScriptCommands {
  tokensmithIncrWithTtl(key: string, ttlMs: number): Promise<number>;
  tokensmithHashCompareAndSet(key: string, field: string, expected: string, value: string): Promise<number>;
  tokensmithHashCompareAndDelete(key: string, field: string, expected: string): Promise<number>;
}

type Client = (Redis | Cluster) & ScriptCommands;

const scripts = {
  tokensmithIncrWithTtl: { lua: INCR_WITH_TTL_LUA, numberOfKeys: 1 },
  tokensmithHashCompareAndSet: { lua: HASH_COMPARE_AND_SET_LUA, numberOfKeys: 1 },
  tokensmithHashCompareAndDelete: { lua: HASH_COMPARE_AND_DELETE_LUA, numberOfKeys: 1 },
};

/** Redis wants a positive integer for PX; MemoryStore treats anything below 1 ms as 1 ms. */
function toPx(ttlMs: number): number {
  if (!Number.isFinite(ttlMs)) throw new RangeError(`ttlMs must be a finite number, got ${ttlMs}`);
  return Math.max(1, Math.ceil(ttlMs));
}

/**
 * Sends the commands issued in one turn of the event loop in one write per
 * connection.
 *
 * The first command of a turn corks the sockets of the store's connections
 * (the one connection; on Cluster, one per master); they are uncorked in
 * the check phase (setImmediate), right after the poll phase in which the
 * requests that issued the commands were read, so each connection's share of
 * the batch leaves in a single writev. Nothing waits for an earlier batch's
 * replies, and no per-batch objects outlive the turn. A socket that appears
 * within the turn (a reconnect, a new Cluster node) is simply not held.
 *
 * It replaces ioredis' auto-pipelining. Auto-pipelining sends a batch only
 * once the previous one has been answered, and keeps each batch in a
 * Pipeline with its own promises and result arrays until then: under load
 * most of those are alive at every scavenge and get copied and promoted
 * (bench/RESULTS.md measured ~1.7 MB surviving per scavenge and
 * multi-millisecond pauses on the Redis-backed calls). Writing each command
 * on its own instead costs a syscall per command.
 */
class TurnWriteBatcher {
  private held: Writable[] = [];
  private open = false;
  private readonly flush = (): void => {
    const held = this.held;
    this.held = [];
    this.open = false;
    for (const stream of held) stream.uncork();
  };

  constructor(private readonly sockets: () => ReadonlyArray<Writable | undefined>) {}

  /** Holds the connections' writes until the check phase of this turn. */
  hold(): void {
    if (this.open) return;
    this.open = true;
    for (const stream of this.sockets()) {
      if (stream === undefined) continue;
      stream.cork();
      this.held.push(stream);
    }
    setImmediate(this.flush);
  }
}

function unchecked(): StoreUnavailableError {
  return new StoreUnavailableError("redis maxmemory-policy not checked yet on this connection");
}

/** host:port of the server a connection reached (a Sentinel-found master's too). */
function addressOf(node: Redis): string {
  const socket = node.stream as Socket | undefined;
  if (socket?.remoteAddress !== undefined) return `${socket.remoteAddress}:${socket.remotePort}`;
  return `${node.options.host}:${node.options.port}`;
}

/** A SCAN MATCH pattern that matches `text` literally: Redis' glob characters escaped. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]^]/g, (char) => `\\${char}`);
}

/** An entry as XRANGE answers it: the id, then the fields flat. */
function entryOf([cursor, flat]: [string, string[]]): FeedEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return { cursor, fields };
}

function unavailable(operation: string, error: unknown): StoreUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`redis ${operation} failed: ${reason}`, { cause: error });
}

export class RedisStore implements Store {
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly deadlineMs: number;
  private readonly batcher: TurnWriteBatcher;
  /** Cluster calls run under the per-call deadline; a single connection needs none (see run()). */
  private readonly deadlined: boolean;
  /** Why calls are refused although connected: the eviction policy is unchecked or unsafe. */
  private refusal: StoreUnavailableError | undefined = unchecked();
  /** Connection losses so far: a check's verdict counts only if none happened while it ran. */
  private losses = 0;
  private policyCheck: Promise<void> | undefined;
  private readonly policyTimer: NodeJS.Timeout;
  private retryTimer: NodeJS.Timeout | undefined;

  /** Use `createRedisStore`. */
  constructor(
    private readonly client: Client,
    private readonly keyPrefix: string,
    commandTimeoutMs: number,
    evictionPolicyRecheckMs = DEFAULT_EVICTION_POLICY_RECHECK_MS,
  ) {
    this.deadlineMs = commandTimeoutMs + DEADLINE_SLACK_MS;
    this.deadlined = client instanceof Cluster;
    this.batcher = new TurnWriteBatcher(
      client instanceof Cluster ? () => client.nodes("master").map((node) => node.stream) : () => [client.stream],
    );
    // A reconnection may reach another server (a restart, a failover, a
    // new Cluster master) with another policy: calls are refused from the
    // moment the connection is lost until the new one is checked. (Refusing
    // at "close" rather than at "ready" leaves no gap: ioredis reports
    // "ready" a tick after commands are already accepted.)
    client.on("close", this.disconnected);
    client.on("ready", () => this.recheckFresh());
    if (client instanceof Cluster) client.on("+node", (node: Redis) => this.watchClusterNode(node));
    this.policyTimer = setInterval(() => this.recheckInBackground(), evictionPolicyRecheckMs).unref();
  }

  private readonly disconnected = (): void => {
    this.refusal = unchecked();
    this.policyCheck = undefined;
    this.losses += 1;
  };

  /**
   * A Cluster node's (re)connection asks for a check without refusing calls
   * meanwhile: node connections open lazily (often for the check itself)
   * and one node's reconnect must not fail the other masters' slots. The
   * Cluster's own loss of connection (every node) refuses until checked.
   */
  private watchClusterNode(node: Redis): void {
    node.on("ready", () => this.recheckFresh());
  }

  /** A check that starts now, so a server that connected after the one in flight began is the one read. */
  private recheckFresh(): void {
    this.policyCheck = undefined;
    this.recheckInBackground();
  }

  private recheckInBackground(): void {
    if (this.closed) return;
    this.checkEvictionPolicy().catch(() => {
      // Not answered while connected: an unknown policy stays refused, and is
      // asked again soon. (While disconnected, the next "ready" asks.)
      if (this.refusal instanceof EvictionPolicyError || this.refusal === undefined) return;
      if (this.retryTimer !== undefined || this.closed || this.client.status !== "ready") return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.recheckInBackground();
      }, EVICTION_POLICY_RETRY_MS).unref();
    });
  }

  /**
   * Reads every master's maxmemory-policy; resolves when all are
   * `noeviction`, rejects with EvictionPolicyError otherwise (and calls are
   * refused from then on), or with StoreUnavailableError when not answered
   * (then the previous verdict stands: a glitch neither takes a safe store
   * out of service nor vouches for an unsafe one).
   */
  checkEvictionPolicy(): Promise<void> {
    if (this.policyCheck === undefined) {
      const result = this.readPolicies(this.losses).finally(() => {
        if (this.policyCheck === result) this.policyCheck = undefined;
      });
      this.policyCheck = result;
    }
    return this.policyCheck;
  }

  private async readPolicies(lossesBefore: number): Promise<void> {
    if (this.closed || this.client.status !== "ready") {
      throw unavailable("maxmemory-policy check", new Error(`connection is ${this.closed ? "closed" : this.client.status}`));
    }
    const masters: Redis[] = this.client instanceof Cluster ? this.client.nodes("master") : [this.client];
    const policies = await Promise.all(
      masters.map(async (node) => ({ node, policy: await this.withDeadline("maxmemory-policy check", () => readEvictionPolicy(node)) })),
    );
    const unsafe = policies.find(({ policy }) => policy !== SAFE_EVICTION_POLICY);
    const verdict = unsafe === undefined ? undefined : new EvictionPolicyError(addressOf(unsafe.node), unsafe.policy);
    // Read before a loss of connection: the next connection's check decides.
    if (lossesBefore === this.losses) this.refusal = verdict;
    if (verdict !== undefined) throw verdict;
  }

  /** True while connected and ready for commands; for health checks. */
  isReady(): boolean {
    // After QUIT the socket stays "ready" until the server closes it.
    if (this.closed || this.client.status !== "ready") return false;
    // Between the server's FIN (the socket stops being writable) and ioredis
    // handling 'close', the status still says "ready" while every command
    // fails. A Cluster's status is its own, not one socket's.
    return this.client instanceof Cluster || this.client.stream.writable;
  }

  /**
   * Resolves once the connection is ready and no master may evict; rejects
   * with StoreUnavailableError after `timeoutMs`, or EvictionPolicyError.
   * Commands issued before that reject (there is no offline queue), so
   * start-up code and tests wait here first.
   */
  async waitUntilReady(timeoutMs = 5_000): Promise<void> {
    await this.connected(timeoutMs);
    await this.checkEvictionPolicy();
  }

  private connected(timeoutMs: number): Promise<void> {
    if (this.isReady()) return Promise.resolve();
    if (this.closed) return Promise.reject(new StoreUnavailableError("redis store is closed"));
    return new Promise((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.client.off("ready", onReady);
        reject(new StoreUnavailableError(`redis was not ready within ${timeoutMs} ms (status: ${this.client.status})`));
      }, timeoutMs);
      this.client.once("ready", onReady);
    });
  }

  get(key: string): Promise<string | null> {
    return this.run("GET", () => this.client.get(this.k(key)));
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const k = this.k(key);
    const { ttlMs, onlyIfAbsent = false } = options;
    const px = ttlMs === undefined ? undefined : toPx(ttlMs);
    const reply = await this.run("SET", () => {
      if (px === undefined) return onlyIfAbsent ? this.client.set(k, value, "NX") : this.client.set(k, value);
      return onlyIfAbsent ? this.client.set(k, value, "PX", px, "NX") : this.client.set(k, value, "PX", px);
    });
    // "OK" when written; null when NX found the key.
    return reply === "OK";
  }

  getDel(key: string): Promise<string | null> {
    return this.run("GETDEL", () => this.client.getdel(this.k(key)));
  }

  async del(key: string): Promise<boolean> {
    const removed = await this.run("DEL", () => this.client.del(this.k(key)));
    return removed > 0;
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    const px = toPx(ttlMs);
    const value = await this.run("INCR", () => this.client.tokensmithIncrWithTtl(this.k(key), px));
    return Number(value);
  }

  hashGet(key: string, field: string): Promise<string | null> {
    return this.run("HGET", () => this.client.hget(this.k(key), field));
  }

  async hashSet(key: string, field: string, value: string, options: { onlyIfAbsent?: boolean } = {}): Promise<boolean> {
    const k = this.k(key);
    if (options.onlyIfAbsent) return (await this.run("HSETNX", () => this.client.hsetnx(k, field, value))) === 1;
    await this.run("HSET", () => this.client.hset(k, field, value));
    return true;
  }

  async hashCompareAndSet(key: string, field: string, expected: string, value: string): Promise<boolean> {
    const k = this.k(key);
    return (await this.run("HSET (compare-and-set)", () => this.client.tokensmithHashCompareAndSet(k, field, expected, value))) === 1;
  }

  async hashCompareAndDelete(key: string, field: string, expected: string): Promise<boolean> {
    const k = this.k(key);
    return (await this.run("HDEL (compare-and-delete)", () => this.client.tokensmithHashCompareAndDelete(k, field, expected))) === 1;
  }

  async hashDelete(key: string, field: string): Promise<boolean> {
    return (await this.run("HDEL", () => this.client.hdel(this.k(key), field))) > 0;
  }

  async hashEntries(key: string): Promise<Map<string, string>> {
    const entries = await this.run("HGETALL", () => this.client.hgetall(this.k(key)));
    return new Map(Object.entries(entries));
  }

  /**
   * XADD with exact MINID trimming in the same command. Exact rather than
   * `~`: the feed then holds what the contract says on every store (readers
   * compare their cursor with the oldest one held), and the work per append
   * stays small because entries leave in the order they came. The minimum
   * id comes from this host's clock, the new id from Redis': a skew of
   * seconds against a retention of a token lifetime does not matter.
   */
  feedAppend(fields: FeedFields, options: { retainMs: number }): Promise<string> {
    return this.xadd(storeKeys.feed(), fields, options.retainMs);
  }

  /** As feedAppend, on another stream: exact trimming too, so a read never shows an entry past its retention. */
  streamAppend(key: string, fields: FeedFields, options: { retainMs: number }): Promise<string> {
    return this.xadd(key, fields, options.retainMs);
  }

  /**
   * XREVRANGE from the newest bound to the oldest. An end given both as a
   * cursor and as an instant is the earlier of the two; a bare `<ms>` is the
   * whole millisecond, as Redis reads it (`<ms>-0` as a start, `<ms>-max` as
   * an end).
   */
  async streamReadBack(key: string, range: StreamRange, count: number): Promise<FeedEntry[]> {
    const before = range.before === undefined ? undefined : requireFeedCursor(range.before);
    const until = range.untilMs === undefined ? undefined : Math.max(0, Math.floor(range.untilMs));
    const end = before !== undefined && (until === undefined || before.ms <= until) ? `(${range.before}` : until !== undefined ? String(until) : "+";
    const start = range.sinceMs === undefined ? "-" : String(Math.max(0, Math.ceil(range.sinceMs)));
    if (count < 1) return [];
    const found = await this.run("XREVRANGE", () => this.client.xrevrange(this.k(key), end, start, "COUNT", count));
    return found.map(entryOf);
  }

  private xadd(key: string, fields: FeedFields, retainMs: number): Promise<string> {
    const minId = Math.max(0, Math.floor(Date.now() - retainMs));
    const args: string[] = [];
    for (const [name, value] of Object.entries(fields)) args.push(name, value);
    return this.run("XADD", async () => {
      const id = await this.client.xadd(this.k(key), "MINID", minId, "*", ...args);
      if (id === null) throw new Error("XADD added no entry");
      return id;
    });
  }

  /**
   * Two XRANGEs on the feed's one connection, entries first: Redis answers
   * them in that order, so a trim between them can only make `oldest` newer
   * (a reader then rereads from a snapshot), never hide a gap.
   */
  async feedRead(after: string | undefined, count: number): Promise<FeedPage> {
    if (after !== undefined) requireFeedCursor(after);
    const key = this.k(storeKeys.feed());
    const start = after === undefined ? "-" : `(${after}`;
    const [entries, oldest] = await Promise.all([
      this.run("XRANGE", () => this.client.xrange(key, start, "+", "COUNT", Math.max(1, count))),
      this.run("XRANGE", () => this.client.xrange(key, "-", "+", "COUNT", 1)),
    ]);
    const page = count > 0 ? entries : [];
    return { entries: page.map(entryOf), oldest: oldest[0]?.[0] };
  }

  async feedLast(): Promise<string | undefined> {
    const newest = await this.run("XREVRANGE", () => this.client.xrevrange(this.k(storeKeys.feed()), "+", "-", "COUNT", 1));
    return newest[0]?.[0];
  }

  /**
   * SCAN MATCH `<keyPrefix><prefix>*` COUNT `batchSize` on every master (a
   * Cluster's keys are spread over all of them: one node's SCAN sees only
   * its own), and UNLINK what each step finds (freed off the main thread).
   * Each command runs under the usual deadline, so a large deletion is many
   * short commands, never one long one; a failure rejects, and running it
   * again carries on (what is gone stays gone). On a Cluster the keys of one
   * step may lie in different slots, so each is UNLINKed on its own, in one
   * pipeline per step.
   */
  async deleteByPrefix(prefix: string, batchSize: number): Promise<number> {
    checkDeleteByPrefix(prefix, batchSize);
    const pattern = `${globEscape(this.keyPrefix + prefix)}*`;
    const cluster = this.client instanceof Cluster;
    const masters: Redis[] = this.client instanceof Cluster ? this.client.nodes("master") : [this.client];
    let deleted = 0;
    for (const node of masters) {
      let cursor = "0";
      do {
        const [next, keys] = await this.run("SCAN", () => node.scan(cursor, "MATCH", pattern, "COUNT", batchSize));
        cursor = next;
        if (keys.length === 0) continue;
        deleted += await this.run("UNLINK", async () => {
          if (!cluster) return node.unlink(...keys);
          const replies = (await node.pipeline(keys.map((key) => ["unlink", key])).exec()) ?? [];
          let removed = 0;
          for (const [error, count] of replies) {
            if (error) throw error;
            removed += Number(count);
          }
          return removed;
        });
      } while (cursor !== "0");
    }
    return deleted;
  }

  async ttl(key: string): Promise<number | null> {
    const ms = await this.run("PTTL", () => this.client.pttl(this.k(key)));
    // -2: no such key; -1: no TTL.
    return ms < 0 ? null : ms;
  }

  /** Also reads the eviction policy again, so a readiness probe sees an operator's CONFIG SET at once. */
  async ping(): Promise<void> {
    await this.checkEvictionPolicy();
    await this.run("PING", () => this.client.ping());
  }

  /**
   * QUIT when connected (the server answers what is in flight, then
   * closes), bounded by the deadline; otherwise, or if QUIT fails, disconnect
   * hard, which also cancels pending reconnects. Either way no sockets or
   * timers of ours are left behind. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const connected = this.client.status === "ready";
    this.closed = true; // calls made from now on fail
    clearInterval(this.policyTimer);
    clearTimeout(this.retryTimer);
    if (connected) {
      try {
        await this.withDeadline("QUIT", () => this.client.quit());
        return;
      } catch {
        // fall through
      }
    }
    this.client.disconnect();
  }

  private k(key: string): string {
    return this.keyPrefix + key;
  }

  /**
   * Runs one command if connected (on Cluster under the per-call deadline),
   * and turns every failure into StoreUnavailableError.
   */
  private run<T>(operation: string, command: () => Promise<T>): Promise<T> {
    // Checked here rather than left to ioredis, so that every mode fails at
    // once and the same way while not connected.
    if (this.closed || this.client.status !== "ready") {
      const state = this.closed ? "closed" : this.client.status;
      return Promise.reject(unavailable(operation, new Error(`connection is ${state}`)));
    }
    if (this.refusal !== undefined) return Promise.reject(this.refusal);
    this.batcher.hold();
    if (this.deadlined) return this.withDeadline(operation, command);
    // One connection, no offline queue: ioredis writes the command at once
    // (or rejects it), arms its commandTimeout, and rejects it when the
    // connection drops, so nothing is left for a deadline of ours to bound.
    try {
      return command().catch((error: unknown) => {
        throw unavailable(operation, error);
      });
    } catch (error) {
      return Promise.reject(unavailable(operation, error));
    }
  }

  /**
   * If the deadline fires first, the command may still complete on the
   * server later: callers treat the error as "outcome unknown" and fail
   * closed.
   */
  private async withDeadline<T>(operation: string, command: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${operation} did not complete within ${this.deadlineMs} ms`)),
        this.deadlineMs,
      );
    });
    try {
      return await Promise.race([command(), deadline]);
    } catch (error) {
      throw unavailable(operation, error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Creates a RedisStore and starts connecting. Commands fail until the
 * connection is ready; await `waitUntilReady()` where that matters.
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  // A brace in the prefix would become the Cluster hash tag of every key and
  // put them all in one slot; the tag must come from the logical key.
  if (/[{}]/.test(keyPrefix)) throw new Error(`keyPrefix must not contain "{" or "}": ${JSON.stringify(keyPrefix)}`);
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (!(commandTimeoutMs > 0)) throw new Error(`commandTimeoutMs must be positive, got ${commandTimeoutMs}`);

  // Options for every connection, including each Cluster node's. The key
  // prefix is applied by RedisStore itself, never via ioredis' keyPrefix
  // (handled differently by Cluster, pipelines and scripts), so what
  // Redis stores and Cluster hashes is exactly prefix + logical key.
  const connection = {
    commandTimeout: commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // On disconnect ioredis arms a timer (default 2 s) before destroying
    // the socket; when the socket is already dead (Redis down) the timer
    // runs its full length and keeps the process alive after close().
    disconnectTimeout: commandTimeoutMs,
    // 0: commands in flight (or queued inside a Cluster node connection)
    // when the connection drops fail right away instead of waiting for
    // reconnection attempts.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Not "ready" while Redis is still loading its AOF/RDB after a restart.
    enableReadyCheck: true,
  } satisfies Partial<RedisOptions>;

  let client: Client;
  switch (options.mode) {
    case "standalone":
      client = new Redis(options.url, {
        ...connection,
        enableOfflineQueue: false,
        // RedisStore batches the writes of each event-loop turn itself (TurnWriteBatcher).
        enableAutoPipelining: false,
        retryStrategy: reconnectDelay,
        scripts,
      }) as Client;
      break;
    case "sentinel":
      client = new Redis({
        ...connection,
        sentinels: options.sentinels,
        name: options.name,
        password: options.password,
        sentinelPassword: options.sentinelPassword,
        enableOfflineQueue: false,
        enableAutoPipelining: false,
        retryStrategy: reconnectDelay,
        // Sentinel lookups retry forever too (a number every time).
        sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, RECONNECT_MAX_MS),
        scripts,
      }) as Client;
      break;
    case "cluster": {
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue: false,
        enableAutoPipelining: false,
        clusterRetryStrategy: reconnectDelay,
        // ioredis 6 default: a lost node is never reconnected (only after a
        // MOVED refreshes the slot map). Reconnect so a restarted master
        // serves its slots again without a failover.
        clusterNodeRetryStrategy: reconnectDelay,
        redisOptions: { ...connection, password: options.password },
        scripts,
      };
      client = new Cluster(options.nodes, clusterOptions) as Client;
      break;
    }
  }

  // Without a listener ioredis prints every reconnect failure to stderr.
  const report = options.onConnectionError ?? (() => {});
  client.on("error", report);
  if (client instanceof Cluster) client.on("node error", report);

  return new RedisStore(client, keyPrefix, commandTimeoutMs, options.evictionPolicyRecheckMs);
}
