import type { Clock } from "../domain/clock.js";
import { systemClock } from "../domain/clock.js";
import { requireFeedCursor } from "./feed-cursor.js";
import { MemoryStream } from "./memory-stream.js";
import { checkDeleteByPrefix, type FeedEntry, type FeedFields, type FeedPage, type SetOptions, type Store, type StreamRange } from "./store.js";

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
    this.feed = new MemoryStream(clock);
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

  async hashCompareAndSet(key: string, field: string, expected: string, value: string): Promise<boolean> {
    const hash = this.hashes.get(key);
    if (hash?.get(field) !== expected) return false;
    hash.set(field, value);
    return true;
  }

  async hashCompareAndDelete(key: string, field: string, expected: string): Promise<boolean> {
    const hash = this.hashes.get(key);
    if (hash?.get(field) !== expected) return false;
    return hash.delete(field);
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
      ...[...this.streams.keys()].filter((key) => key.startsWith(prefix)).map((key) => ({ key, from: "streams" as const })),
    ];
    for (let start = 0; start < doomed.length; start += batchSize) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const { key, from } of doomed.slice(start, start + batchSize)) {
        // Counted as Redis counts UNLINK: keys that still exist (an expired entry or an emptied hash does not).
        const exists =
          from === "entries" ? this.live(key) !== undefined : from === "hashes" ? (this.hashes.get(key)?.size ?? 0) > 0 : this.streams.get(key)?.empty === false;
        if (exists) deleted += 1;
        this[from].delete(key);
      }
    }
    return deleted;
  }

  /** The change feed, oldest first. */
  private readonly feed: MemoryStream;
  /** The other streams (the audit trail's), by key. */
  private readonly streams = new Map<string, MemoryStream>();

  async feedAppend(fields: FeedFields, options: { retainMs: number }): Promise<string> {
    return this.feed.append(fields, options.retainMs);
  }

  async feedRead(after: string | undefined, count: number): Promise<FeedPage> {
    const entries = this.feed.readAfter(after, count);
    return { entries, oldest: this.feed.oldest() };
  }

  async feedLast(): Promise<string | undefined> {
    return this.feed.newest();
  }

  async streamAppend(key: string, fields: FeedFields, options: { retainMs: number }): Promise<string> {
    let stream = this.streams.get(key);
    if (stream === undefined) {
      stream = new MemoryStream(this.clock);
      this.streams.set(key, stream);
    }
    return stream.append(fields, options.retainMs);
  }

  async streamReadBack(key: string, range: StreamRange, count: number): Promise<FeedEntry[]> {
    const stream = this.streams.get(key);
    if (stream === undefined) {
      if (range.before !== undefined) requireFeedCursor(range.before);
      return [];
    }
    return stream.readBack(range, count);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** The names of the live keys and non-empty hashes starting with `prefix`; for tests that check what a deletion left. */
  keysStartingWith(prefix: string): string[] {
    this.sweep();
    return [
      ...this.entries.keys(),
      ...[...this.hashes].filter(([, hash]) => hash.size > 0).map(([key]) => key),
      ...[...this.streams].filter(([, stream]) => !stream.empty).map(([key]) => key),
    ].filter((key) => key.startsWith(prefix));
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
