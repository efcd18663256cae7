/**
 * A bounded in-process cache whose entries expire: the registries keep store
 * lookups (including misses) here for a few seconds. When full, the oldest
 * entry goes.
 */
export class ExpiringCache<K, V> {
  private readonly entries = new Map<K, { value: V; until: number }>();

  constructor(private readonly maxEntries = 100_000) {}

  /** The live entry, or undefined; `stale` also returns an expired one. */
  get(key: K, now: number, options: { stale?: boolean } = {}): { value: V } | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || (!options.stale && entry.until <= now)) return undefined;
    return entry;
  }

  set(key: K, value: V, until: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.set(key, { value, until });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Drops every entry whose value `matches` (a change announced by its content, not its key). */
  deleteWhere(matches: (value: V) => boolean): void {
    for (const [key, entry] of this.entries) if (matches(entry.value)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
