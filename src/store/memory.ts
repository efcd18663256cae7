import type { Clock } from "../domain/clock.js";
import { systemClock } from "../domain/clock.js";
import { requireFeedCursor, type ParsedFeedCursor } from "./feed-cursor.js";
import { checkDeleteByPrefix, type FeedFields, type FeedPage, type SetOptions, type Store } from "./store.js";

interface Entry {
  value: string;
  expiresAt: number | null;
}

/**
 * The embedded store: same semantics as Redis (TTL expiry, SET NX, GETDEL,
 * INCR) in one process. Expired entries are dropped on access and by a
 * periodic sweep so memory does not grow with dead keys.
 */
export class MemoryStore implements Store {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly clock: Clock = systemClock, sweepIntervalMs = 30_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    if (options.onlyIfAbsent && this.live(key) !== undefined) return false;
    const expiresAt = options.ttlMs === undefined ? null : this.clock.now() + Math.max(1, options.ttlMs);
    this.entries.set(key, { value, expiresAt });
    return true;
  }

  async getDel(key: string): Promise<string | null> {
    const entry = this.live(key);
    if (entry === undefined) return null;
    this.entries.delete(key);
    return entry.value;
  }

  async del(key: string): Promise<boolean> {
    const existed = this.live(key) !== undefined;
    this.entries.delete(key);
    return existed;
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    const entry = this.live(key);
    if (entry === undefined) {
      this.entries.set(key, { value: "1", expiresAt: this.clock.now() + Math.max(1, ttlMs) });
      return 1;
    }
    const next = Number(entry.value) + 1;
    entry.value = String(next);
    return next;
  }

  async ttl(key: string): Promise<number | null> {
    const entry = this.live(key);
    if (entry === undefined || entry.expiresAt === null) return null;
    return entry.expiresAt - this.clock.now();
  }

  private readonly hashes = new Map<string, Map<string, string>>();

  async hashGet(key: string, field: string): Promise<string | null> {
    return this.hashes.get(key)?.get(field) ?? null;
  }

  async hashSet(key: string, field: string, value: string, options: { onlyIfAbsent?: boolean } = {}): Promise<boolean> {
    let hash = this.hashes.get(key);
    if (hash === undefined) {
      hash = new Map();
      this.hashes.set(key, hash);
    }
    if (options.onlyIfAbsent && hash.has(field)) return false;
    hash.set(field, value);
    return true;
  }

  async hashDelete(key: string, field: string): Promise<boolean> {
    return this.hashes.get(key)?.delete(field) ?? false;
  }

  async hashEntries(key: string): Promise<Map<string, string>> {
    return new Map(this.hashes.get(key) ?? []);
  }

  /** Deletes `batchSize` keys per turn of the event loop, so a large tenant does not stall the instance. */
  async deleteByPrefix(prefix: string, batchSize: number): Promise<number> {
    checkDeleteByPrefix(prefix, batchSize);
    let deleted = 0;
    const doomed = [
      ...[...this.entries.keys()].filter((key) => key.startsWith(prefix)).map((key) => ({ key, from: "entries" as const })),
      ...[...this.hashes.keys()].filter((key) => key.startsWith(prefix)).map((key) => ({ key, from: "hashes" as const })),
    ];
    for (let start = 0; start < doomed.length; start += batchSize) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const { key, from } of doomed.slice(start, start + batchSize)) {
        // Counted as Redis counts UNLINK: keys that still exist (an expired entry or an emptied hash does not).
        if (from === "entries" ? this.live(key) !== undefined : (this.hashes.get(key)?.size ?? 0) > 0) deleted += 1;
        this[from].delete(key);
      }
    }
    return deleted;
  }

  /** The change feed, oldest first; ids minted like Redis' `*` (this clock's ms, then a sequence within the ms). */
  private readonly feed: Array<ParsedFeedCursor & { cursor: string; fields: FeedFields }> = [];
  /** Index of the oldest live feed entry; the array is compacted once the dead head outgrows the rest. */
  private feedHead = 0;

  async feedAppend(fields: FeedFields, options: { retainMs: number }): Promise<string> {
    const now = this.clock.now();
    const last = this.feed[this.feed.length - 1];
    // Like Redis: ids never go backwards, even if the clock does.
    const ms = last === undefined || now > last.ms ? now : last.ms;
    const seq = ms === last?.ms ? last.seq + 1 : 0;
    const cursor = `${ms}-${seq}`;
    this.feed.push({ ms, seq, cursor, fields: { ...fields } });
    // MINID semantics: entries whose ms is below now - retainMs go.
    const minMs = now - options.retainMs;
    while (this.feedHead < this.feed.length && this.feed[this.feedHead]!.ms < minMs) this.feedHead += 1;
    if (this.feedHead > 1_024 && this.feedHead * 2 > this.feed.length) {
      this.feed.splice(0, this.feedHead);
      this.feedHead = 0;
    }
    return cursor;
  }

  async feedRead(after: string | undefined, count: number): Promise<FeedPage> {
    const from = after === undefined ? undefined : requireFeedCursor(after);
    // Binary search for the first entry after `from`: followers read near the end of a long feed.
    let start = this.feedHead;
    let end = this.feed.length;
    while (from !== undefined && start < end) {
      const middle = (start + end) >>> 1;
      const entry = this.feed[middle]!;
      if (entry.ms > from.ms || (entry.ms === from.ms && entry.seq > from.seq)) end = middle;
      else start = middle + 1;
    }
    const entries = this.feed.slice(start, start + Math.max(0, count)).map(({ cursor, fields }) => ({ cursor, fields: { ...fields } }));
    return { entries, oldest: this.feed[this.feedHead]?.cursor };
  }

  async feedLast(): Promise<string | undefined> {
    return this.feedHead < this.feed.length ? this.feed.at(-1)!.cursor : undefined;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** The names of the live keys and non-empty hashes starting with `prefix`; for tests that check what a deletion left. */
  keysStartingWith(prefix: string): string[] {
    this.sweep();
    return [...this.entries.keys(), ...[...this.hashes].filter(([, hash]) => hash.size > 0).map(([key]) => key)].filter((key) => key.startsWith(prefix));
  }

  /** Number of live entries; for tests that check memory does not grow. */
  size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.entries.delete(key);
    }
  }
}
