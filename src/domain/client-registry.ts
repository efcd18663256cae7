import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import { clientOf, registeredAuthMethods, registeredGrantTypes, type Client, type ClientAuthMethod, type ClientRegistry, type ClientSettings, type GrantType } from "./client.js";
import type { Clock } from "./clock.js";
import { ExpiringCache } from "./expiring-cache.js";
import type { Revised } from "./stored-change.js";

/** A client secret hash, with the time it stops working once rotated out. */
export interface StoredSecret {
  hash: string;
  expiresAt?: number;
}

/** A client as kept in the store by the AdminService: its settings, its secrets, when it was created. */
export type StoredClient = Omit<ClientSettings, "tokenEndpointAuthMethods" | "grantTypes"> & {
  secrets: StoredSecret[];
  /** Absent on records written before it existed: then the default for the record's keys (see registeredAuthMethods). */
  tokenEndpointAuthMethods?: readonly ClientAuthMethod[];
  /** Absent on records written before it existed: then client_credentials only (see registeredGrantTypes). */
  grantTypes?: readonly GrantType[];
  createdAt: number;
};

/**
 * Clients from the config file (read-only, always in process) and from the
 * store (created through the AdminService). Store lookups are cached in
 * process for `cacheMs`, so client authentication costs no store round trip
 * on the hot path and keeps working for known clients while the store is
 * briefly away; writes through this registry invalidate at once, other
 * instances drop their entry when the change feed announces it (see
 * FeedFollower), or within `cacheMs` while they cannot read the feed, when
 * they also read through.
 */
export class LayeredClientRegistry implements ClientRegistry {
  private readonly fixed: Map<string, Client>;
  private readonly cache = new ExpiringCache<string, StoredClient | null>();
  /** The Client built from each cached record, until one of its secrets expires (see peek). */
  private readonly built = new WeakMap<StoredClient, { client: Client; until: number }>();

  /**
   * Set while the change feed cannot be read: a change on another instance
   * would go unannounced, so every lookup asks the store (the stale entry
   * still answers if the store is away too).
   */
  readThrough = false;

  constructor(
    fixedClients: readonly Client[],
    private readonly deps: { store: Store; clock: Clock; cacheMs: number; maxTokenLifetimeSeconds: number },
  ) {
    this.fixed = new Map(fixedClients.map((client) => [client.id, client]));
  }

  fixedClients(): Client[] {
    return [...this.fixed.values()];
  }

  async find(clientId: string): Promise<Client | undefined> {
    const known = this.peek(clientId);
    if (known !== undefined) return known ?? undefined;
    const record = await this.stored(clientId);
    return record === null ? undefined : this.toClient(record);
  }

  async findFresh(clientId: string): Promise<Client | undefined> {
    const fixed = this.fixed.get(clientId);
    if (fixed !== undefined) return fixed;
    const record = await this.storedFresh(clientId);
    return record === null ? undefined : this.toClient(record);
  }

  peek(clientId: string): Client | null | undefined {
    const fixed = this.fixed.get(clientId);
    if (fixed !== undefined) return fixed;
    if (this.readThrough) return undefined;
    const now = this.deps.clock.now();
    const cached = this.cache.get(clientId, now);
    if (cached === undefined) return undefined;
    return cached.value === null ? null : this.toClient(cached.value, now);
  }

  /** The stored record, through the cache. */
  async stored(clientId: string): Promise<StoredClient | null> {
    const now = this.deps.clock.now();
    const cached = this.readThrough ? undefined : this.cache.get(clientId, now);
    if (cached !== undefined) return cached.value;
    try {
      return await this.storedFresh(clientId);
    } catch (error) {
      // Store away: a client we knew a moment ago still authenticates (fail
      // closed for unknown ones). Revocation checks still fail closed.
      const stale = this.cache.get(clientId, now, { stale: true });
      if (stale !== undefined && stale.value !== null) return stale.value;
      throw error;
    }
  }

  /** The stored record read from the store now, refreshing the cache. */
  async storedFresh(clientId: string): Promise<StoredClient | null> {
    return (await this.storedRevised(clientId))?.record ?? null;
  }

  /**
   * The stored record read from the store now, with its revision (the value
   * as stored, which save() compares), for a read-modify-write; refreshes
   * the cache. The record is the caller's to change: the cache holds a copy.
   */
  async storedRevised(clientId: string): Promise<Revised<StoredClient> | null> {
    const raw = await this.deps.store.hashGet(storeKeys.clients(), clientId);
    this.remember(clientId, raw === null ? null : (JSON.parse(raw) as StoredClient));
    return raw === null ? null : { record: JSON.parse(raw) as StoredClient, revision: raw };
  }

  /** Drops what is cached of a client that changed elsewhere (its remembered headers go with it: see RememberedHeaders). */
  forget(clientId: string): void {
    this.cache.delete(clientId);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  async allStored(): Promise<StoredClient[]> {
    const entries = await this.deps.store.hashEntries(storeKeys.clients());
    return [...entries.values()].map((raw) => JSON.parse(raw) as StoredClient);
  }

  /**
   * Creates a client; false when the id is taken. An id deleted earlier in
   * the same second gets a creation time in the next second, so the old
   * client's tokens (whose `iat` has second precision) can never pass for the
   * new client's.
   */
  async create(record: StoredClient): Promise<boolean> {
    if (this.fixed.has(record.id)) return false;
    const deletedAt = await this.deps.store.get(storeKeys.clientTombstone(record.id));
    if (deletedAt !== null) record.createdAt = Math.max(record.createdAt, (Math.floor(Number(deletedAt) / 1000) + 1) * 1000);
    const created = await this.deps.store.hashSet(storeKeys.clients(), record.id, JSON.stringify(record), { onlyIfAbsent: true });
    if (created) this.remember(record.id, record);
    return created;
  }

  /**
   * Writes `record` over the stored client read at `revision`; false,
   * writing nothing, when another call wrote or deleted it since (a plain
   * write would bring a deleted client back, its secrets working again).
   */
  async save(record: StoredClient, revision: string): Promise<boolean> {
    const saved = await this.deps.store.hashCompareAndSet(storeKeys.clients(), record.id, revision, JSON.stringify(record));
    if (saved) this.remember(record.id, record);
    return saved;
  }

  /** Deletes a client, leaving a tombstone for as long as its tokens could live. */
  async delete(clientId: string, tombstoneMs: number): Promise<boolean> {
    await this.deps.store.set(storeKeys.clientTombstone(clientId), String(this.deps.clock.now()), { ttlMs: tombstoneMs });
    const deleted = await this.deps.store.hashDelete(storeKeys.clients(), clientId);
    this.remember(clientId, null);
    return deleted;
  }

  /**
   * The domain's view of a stored record: only the secrets still in force.
   * The same record gives the same object until its next secret expiry, so a
   * cached client costs no allocation per request.
   */
  toClient(record: StoredClient, now = this.deps.clock.now()): Client {
    const built = this.built.get(record);
    if (built !== undefined && now < built.until) return built.client;
    const live = record.secrets.filter((secret) => secret.expiresAt === undefined || secret.expiresAt > now);
    const client = this.buildClient(record, live);
    this.built.set(record, { client, until: Math.min(...live.map((secret) => secret.expiresAt ?? Infinity)) });
    return client;
  }

  private buildClient(record: StoredClient, live: StoredSecret[]): Client {
    return clientOf(record, {
      // A record saved while the maximum was higher: a longer token would outlive its signing key's publication.
      tokenLifetimeSeconds: Math.min(record.tokenLifetimeSeconds, this.deps.maxTokenLifetimeSeconds),
      tokenEndpointAuthMethods: registeredAuthMethods(record),
      grantTypes: registeredGrantTypes(record),
      secretHashes: live.map((secret) => secret.hash),
      createdAt: record.createdAt,
      source: "store",
    });
  }

  private remember(clientId: string, record: StoredClient | null): void {
    // Build anew whatever was built of this object before: a caller may have changed it since.
    if (record !== null) this.built.delete(record);
    this.cache.set(clientId, record, this.deps.clock.now() + this.deps.cacheMs);
  }
}
