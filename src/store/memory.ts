import type { Clock } from "../domain/clock.js";
import { systemClock } from "../domain/clock.js";
import type { SetOptions, Store } from "./store.js";

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

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
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
