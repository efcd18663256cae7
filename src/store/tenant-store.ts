import type { FeedEntry, FeedFields, FeedPage, SetOptions, Store, StreamRange } from "./store.js";

/** The tenant whose keys, URLs and issuer are those of a deployment without tenants. */
export const DEFAULT_TENANT = "default";

/** The first part of every key of `tenant` (never of the default tenant): what deleting a tenant removes. */
export const tenantKeyPrefix = (tenant: string) => `t:${tenant}:`;

/**
 * The key `name:{tag}rest` of a tenant: `t:<tenant>:name:{<tenant>:tag}rest`.
 * The tenant goes into the Cluster hash tag too, so the keys an operation
 * uses together still share a slot, and one tenant's singletons (its clients,
 * its key ring) land on other slots than another's: tenants spread over the
 * Cluster. The default tenant's keys are unchanged.
 */
export function tenantKey(tenant: string, key: string): string {
  if (tenant === DEFAULT_TENANT) return key;
  const brace = key.indexOf("{");
  if (brace < 0) throw new Error(`store key without a hash tag: ${key}`);
  return `${tenantKeyPrefix(tenant)}${key.slice(0, brace + 1)}${tenant}:${key.slice(brace + 1)}`;
}

/**
 * One tenant's view of the store: the same connection, every key mapped by
 * tenantKey. The change feed is the deployment's one feed (ChangeFeed tags
 * each entry with its tenant), so an instance follows every tenant with one
 * poll. Closing a view closes nothing: the store belongs to the instance.
 */
export class TenantStore implements Store {
  constructor(
    private readonly base: Store,
    readonly tenant: string,
  ) {}

  private k(key: string): string {
    return tenantKey(this.tenant, key);
  }

  get(key: string): Promise<string | null> {
    return this.base.get(this.k(key));
  }
  set(key: string, value: string, options?: SetOptions): Promise<boolean> {
    return this.base.set(this.k(key), value, options);
  }
  getDel(key: string): Promise<string | null> {
    return this.base.getDel(this.k(key));
  }
  del(key: string): Promise<boolean> {
    return this.base.del(this.k(key));
  }
  incr(key: string, ttlMs: number): Promise<number> {
    return this.base.incr(this.k(key), ttlMs);
  }
  ttl(key: string): Promise<number | null> {
    return this.base.ttl(this.k(key));
  }
  hashGet(key: string, field: string): Promise<string | null> {
    return this.base.hashGet(this.k(key), field);
  }
  hashSet(key: string, field: string, value: string, options?: { onlyIfAbsent?: boolean }): Promise<boolean> {
    return this.base.hashSet(this.k(key), field, value, options);
  }
  hashCompareAndSet(key: string, field: string, expected: string, value: string): Promise<boolean> {
    return this.base.hashCompareAndSet(this.k(key), field, expected, value);
  }
  hashCompareAndDelete(key: string, field: string, expected: string): Promise<boolean> {
    return this.base.hashCompareAndDelete(this.k(key), field, expected);
  }
  hashDelete(key: string, field: string): Promise<boolean> {
    return this.base.hashDelete(this.k(key), field);
  }
  hashEntries(key: string): Promise<Map<string, string>> {
    return this.base.hashEntries(this.k(key));
  }
  feedAppend(fields: FeedFields, options: { retainMs: number }): Promise<string> {
    return this.base.feedAppend(fields, options);
  }
  feedRead(after: string | undefined, count: number): Promise<FeedPage> {
    return this.base.feedRead(after, count);
  }
  feedLast(): Promise<string | undefined> {
    return this.base.feedLast();
  }
  streamAppend(key: string, fields: FeedFields, options: { retainMs: number }): Promise<string> {
    return this.base.streamAppend(this.k(key), fields, options);
  }
  streamReadBack(key: string, range: StreamRange, count: number): Promise<FeedEntry[]> {
    return this.base.streamReadBack(this.k(key), range, count);
  }
  /** Every key of this tenant (prefix ""): a view maps names into the tenant's key space, where only the whole space is a prefix. */
  deleteByPrefix(prefix: string, batchSize: number): Promise<number> {
    if (prefix !== "" || this.tenant === DEFAULT_TENANT) {
      return Promise.reject(new RangeError("a tenant's view of the store deletes only all of another tenant's keys (prefix \"\")"));
    }
    return this.base.deleteByPrefix(tenantKeyPrefix(this.tenant), batchSize);
  }
  ping(): Promise<void> {
    return this.base.ping();
  }
  async close(): Promise<void> {}
}
