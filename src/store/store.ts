/**
 * The one storage interface Tokensmith uses. Implementations: `memory.ts`
 * (embedded, single instance) and `redis.ts` (standalone, Sentinel, Cluster).
 * Both pass the same contract suite (test/store/store-contract.ts).
 *
 * Keys are logical names built by `storeKeys`; an implementation may add a
 * prefix. The part of a key in `{braces}` is its Redis Cluster hash tag: keys
 * used together in one operation share it.
 *
 * Every method rejects with `StoreUnavailableError` when the backing store
 * cannot answer in bounded time; it never hangs.
 */
export interface Store {
  get(key: string): Promise<string | null>;
  /**
   * Writes `value`. `ttlMs` makes the key expire; `onlyIfAbsent` writes only
   * when the key does not exist (SET NX). Resolves true when written.
   */
  set(key: string, value: string, options?: SetOptions): Promise<boolean>;
  /** Reads and deletes atomically (GETDEL): of concurrent callers exactly one gets the value. */
  getDel(key: string): Promise<string | null>;
  /** Resolves true when the key existed. */
  del(key: string): Promise<boolean>;
  /** Atomically increments a counter; the first increment starts its TTL. Resolves the new value. */
  incr(key: string, ttlMs: number): Promise<number>;
  /** Remaining time to live in ms; null when the key does not exist or has no TTL. */
  ttl(key: string): Promise<number | null>;
  /** One field of a hash (a small collection under one key: one Cluster slot). */
  hashGet(key: string, field: string): Promise<string | null>;
  /** Writes a field; with `onlyIfAbsent` only when the field does not exist (HSETNX). Resolves true when written. */
  hashSet(key: string, field: string, value: string, options?: { onlyIfAbsent?: boolean }): Promise<boolean>;
  /**
   * Writes a field only while it holds `expected`, byte for byte, atomically
   * (compare-and-set); resolves true when written. False, writing nothing,
   * when the field changed since the caller read `expected` or no longer
   * exists: the caller reads it again and decides afresh.
   */
  hashCompareAndSet(key: string, field: string, expected: string, value: string): Promise<boolean>;
  /** Deletes a field only while it holds `expected`, atomically (compare-and-delete); resolves true when deleted. */
  hashCompareAndDelete(key: string, field: string, expected: string): Promise<boolean>;
  /** Resolves true when the field existed. */
  hashDelete(key: string, field: string): Promise<boolean>;
  /** Every field of a hash. */
  hashEntries(key: string): Promise<Map<string, string>>;
  /** Appends to the change feed and drops entries older than `retainMs` (XADD MINID); resolves the entry's cursor. */
  feedAppend(fields: FeedFields, options: { retainMs: number }): Promise<string>;
  /** Up to `count` entries strictly after `after` (from the start when undefined), oldest first, and the oldest cursor the feed still holds. */
  feedRead(after: string | undefined, count: number): Promise<FeedPage>;
  /** The newest cursor the feed holds (undefined when empty): a follower starting now reads after it. */
  feedLast(): Promise<string | undefined>;
  /**
   * Appends to the stream `key` (not the change feed: the audit trail's, one
   * per tenant) and drops its entries older than `retainMs` (XADD MINID);
   * resolves the entry's cursor, `<ms>-<seq>` as the feed's.
   */
  streamAppend(key: string, fields: FeedFields, options: { retainMs: number }): Promise<string>;
  /** Up to `count` entries of the stream `key` within `range`, newest first (XREVRANGE); none for a stream never written. */
  streamReadBack(key: string, range: StreamRange, count: number): Promise<FeedEntry[]>;
  /**
   * Deletes every key (plain or hash) whose name starts with `prefix`, at
   * most `batchSize` per round trip, and resolves how many it deleted: what
   * removing a tenant's data takes (its keys all start `t:<tenant>:`). Not
   * atomic: keys written under the prefix meanwhile may survive, so callers
   * make the prefix unreachable first. The change feed is never touched.
   * Rejects an empty prefix (that would be everything) or a batch size below 1.
   */
  deleteByPrefix(prefix: string, batchSize: number): Promise<number>;
  /**
   * Resolves when the store answers and keeps what it is given until it
   * expires; rejects with StoreUnavailableError otherwise (EvictionPolicyError
   * for a Redis that may evict).
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What one change-feed entry holds; src/domain/change-feed.ts gives the fields their meaning. */
export type FeedFields = Readonly<Record<string, string>>;

export interface FeedEntry {
  /** `<ms>-<seq>` (see feed-cursor.ts): ordered, unique within the feed. */
  cursor: string;
  fields: FeedFields;
}

export interface FeedPage {
  entries: FeedEntry[];
  /**
   * The oldest cursor still held (undefined when the feed is empty): a reader
   * whose own cursor is older may have missed trimmed entries.
   */
  oldest: string | undefined;
}

/** Which entries of a stream a read returns; every bound is optional. */
export interface StreamRange {
  /** Only entries strictly before this cursor (the last one of a previous page). */
  before?: string;
  /** Only entries added at or after this instant (ms). */
  sinceMs?: number;
  /** Only entries added at or before this instant (ms, the whole millisecond). */
  untilMs?: number;
}

export interface SetOptions {
  ttlMs?: number;
  onlyIfAbsent?: boolean;
}

/** The store could not be reached or did not answer in time. Callers fail closed. */
export class StoreUnavailableError extends Error {
  readonly code = "STORE_UNAVAILABLE";
  constructor(message = "the token store is unavailable", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** The checks deleteByPrefix makes on its arguments, the same on every store. */
export function checkDeleteByPrefix(prefix: string, batchSize: number): void {
  if (prefix === "") throw new RangeError("deleteByPrefix needs a non-empty prefix");
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`deleteByPrefix needs a batch size of at least 1, got ${batchSize}`);
}

/** Key names, in one place. Each entity hashes to its own Cluster slot. */
export const storeKeys = {
  grant: (tokenHash: string) => `grant:{${tokenHash}}`,
  revokedJti: (jti: string) => `revoked:{${jti}}`,
  assertionJti: (clientId: string, jti: string) => `assertion:{${clientId}}:${jti}`,
  signingKeys: () => "keys:{ring}",
  failedAuth: (subject: string) => `failed-auth:{${subject}}`,
  clients: () => "admin:{clients}",
  /** When a client id was last deleted, kept as long as its tokens could live. */
  clientTombstone: (clientId: string) => `client-deleted:{${clientId}}`,
  /** RevokeClientTokens: the client's tokens issued up to this instant (ms) are inactive; kept as long as its tokens could live. */
  clientTokensRevoked: (clientId: string) => `client-tokens-revoked:{${clientId}}`,
  /** Trusted external issuers created through the AdminService, by issuer. */
  trustedIssuers: () => "admin:{trusted-issuers}",
  /** API keys by the hash of the key: the index authentication needs. */
  apiKeys: () => "admin:{api-keys}",
  /** API key hash by name: makes names unique (HSETNX), in the same slot as the keys. */
  apiKeyNames: () => "admin:{api-keys}:names",
  signingKeyRotationLock: () => "keys:{ring}:rotation-lock",
  /** The change feed: one stream, so one Cluster slot, read in one order by every follower. */
  feed: () => "feed:{revocations}",
  /** Named access tokens (CreateAccessToken) by id (jti): their records, never the tokens; pruned once expired. */
  accessTokens: () => "admin:{access-tokens}",
  /** Named access token id by client and name: makes names unique per client (HSETNX), in the same slot as the records. */
  accessTokenNames: () => "admin:{access-tokens}:names",
  /** The audit trail: one stream per tenant (TenantStore maps it), trimmed to the audit retention. */
  audit: () => "audit:{audit}",
} as const;
