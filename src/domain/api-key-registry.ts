import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import { apiKeyOf, type ApiKey, type ApiKeyRegistry } from "./api-key.js";
import type { Clock } from "./clock.js";
import { ExpiringCache } from "./expiring-cache.js";
import { RememberedHeaders } from "./remembered-headers.js";
import type { Revised } from "./stored-change.js";

/** An API key as kept in the store by the AdminService, filed under its hash. */
export type StoredApiKey = Omit<ApiKey, "source"> & {
  /** The first characters of the key, to recognise it in lists. */
  keyPrefix: string;
  createdAt: number;
};

/**
 * API keys from the config file (read-only) and from the store, with an
 * in-process cache that the change feed invalidates (see FeedFollower and
 * LayeredClientRegistry, which caches the same way).
 */
export class LayeredApiKeyRegistry implements ApiKeyRegistry {
  private readonly fixedByHash: Map<string, ApiKey>;
  private readonly cache = new ExpiringCache<string, ApiKey | null>();
  readonly verifiedHeaders = new RememberedHeaders<ApiKey>(
    (keyHash) => this.peekByHash(keyHash),
    (key) => key.keyHash,
  );

  /** Set while the change feed cannot be read: every lookup asks the store. */
  readThrough = false;

  constructor(
    fixedKeys: readonly ApiKey[],
    private readonly deps: { store: Store; clock: Clock; cacheMs: number },
  ) {
    this.fixedByHash = new Map(fixedKeys.map((key) => [key.keyHash, key]));
  }

  fixedKeys(): ApiKey[] {
    return [...this.fixedByHash.values()];
  }

  /**
   * findByHash's answer when it is in memory right now: the key (the same
   * object until the cache entry is dropped or expires), null for a known
   * absence, undefined when only findByHash can tell.
   */
  peekByHash(keyHash: string): ApiKey | null | undefined {
    const fixed = this.fixedByHash.get(keyHash);
    if (fixed !== undefined) return fixed;
    if (this.readThrough) return undefined;
    return this.cache.get(keyHash, this.deps.clock.now())?.value;
  }

  async findByHash(keyHash: string): Promise<ApiKey | undefined> {
    const known = this.peekByHash(keyHash);
    if (known !== undefined) return known ?? undefined;
    const now = this.deps.clock.now();
    const raw = await this.deps.store.hashGet(storeKeys.apiKeys(), keyHash);
    const key = raw === null ? null : toApiKey(JSON.parse(raw) as StoredApiKey);
    this.cache.set(keyHash, key, now + this.deps.cacheMs);
    return key ?? undefined;
  }

  /**
   * Drops the cached key of that name, and every cached absence: the cache
   * is keyed by hash, and a key created under the name has a hash this
   * instance may have been asked about before.
   */
  forgetName(name: string): void {
    this.cache.deleteWhere((key) => key === null || key.name === name);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  async allStored(): Promise<StoredApiKey[]> {
    const entries = await this.deps.store.hashEntries(storeKeys.apiKeys());
    return [...entries.values()].map((raw) => JSON.parse(raw) as StoredApiKey);
  }

  /** The stored key of that name, with its revision (the value as stored, which save() compares). */
  async findStoredByName(name: string): Promise<Revised<StoredApiKey> | undefined> {
    const keyHash = await this.deps.store.hashGet(storeKeys.apiKeyNames(), name);
    if (keyHash === null) return undefined;
    const raw = await this.deps.store.hashGet(storeKeys.apiKeys(), keyHash);
    return raw === null ? undefined : { record: JSON.parse(raw) as StoredApiKey, revision: raw };
  }

  /** Creates a key; false when its name is taken (claimed atomically, so concurrent creates cannot both win). */
  async create(record: StoredApiKey): Promise<boolean> {
    if (this.fixedByHash.size > 0 && [...this.fixedByHash.values()].some((key) => key.name === record.name)) return false;
    if (!(await this.deps.store.hashSet(storeKeys.apiKeyNames(), record.name, record.keyHash, { onlyIfAbsent: true }))) return false;
    await this.deps.store.hashSet(storeKeys.apiKeys(), record.keyHash, JSON.stringify(record));
    this.cache.delete(record.keyHash);
    return true;
  }

  /**
   * Writes `record` over the stored key read at `revision`; false, writing
   * nothing, when another call wrote or deleted it since (a plain write
   * would bring a deleted key back, working again).
   */
  async save(record: StoredApiKey, revision: string): Promise<boolean> {
    const saved = await this.deps.store.hashCompareAndSet(storeKeys.apiKeys(), record.keyHash, revision, JSON.stringify(record));
    if (saved) this.cache.delete(record.keyHash);
    return saved;
  }

  async delete(record: StoredApiKey): Promise<boolean> {
    const deleted = await this.deps.store.hashDelete(storeKeys.apiKeys(), record.keyHash);
    await this.deps.store.hashDelete(storeKeys.apiKeyNames(), record.name);
    this.cache.delete(record.keyHash);
    return deleted;
  }
}

export function toApiKey(record: StoredApiKey): ApiKey {
  return apiKeyOf(record, "store");
}
