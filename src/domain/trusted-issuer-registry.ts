import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { Clock } from "./clock.js";
import { ExpiringCache } from "./expiring-cache.js";
import type { TrustedIssuer } from "./trusted-issuers.js";

/** A trusted issuer as the AdminService keeps it in the tenant's store. */
export type StoredTrustedIssuer = TrustedIssuer & { createdAt: number };

/**
 * A tenant's trusted external issuers: those declared in the config file
 * (read-only, in process) and those created through the AdminService (a
 * hash in the tenant's store, by issuer). Store lookups are cached for
 * `cacheMs` like clients': writes through this registry apply at once, other
 * instances drop their cache on the change feed's `trusted_issuers_changed`,
 * and read through while the feed cannot be read.
 */
export class TrustedIssuerRegistry {
  private readonly fixed: Map<string, TrustedIssuer>;
  private readonly cache = new ExpiringCache<string, StoredTrustedIssuer | null>(10_000);

  /** Set while the change feed cannot be read: every lookup asks the store (a stale entry still answers if the store is away too). */
  readThrough = false;

  constructor(
    declared: readonly TrustedIssuer[],
    private readonly deps: { store: Store; clock: Clock; cacheMs: number },
  ) {
    this.fixed = new Map(declared.map((trusted) => [trusted.issuer, trusted]));
  }

  declared(): TrustedIssuer[] {
    return [...this.fixed.values()];
  }

  isDeclared(issuer: string): boolean {
    return this.fixed.has(issuer);
  }

  /** The issuer, declared or stored (through the cache); undefined when it is not trusted. */
  async find(issuer: string): Promise<TrustedIssuer | undefined> {
    const fixed = this.fixed.get(issuer);
    if (fixed !== undefined) return fixed;
    const now = this.deps.clock.now();
    const cached = this.readThrough ? undefined : this.cache.get(issuer, now);
    if (cached !== undefined) return cached.value ?? undefined;
    try {
      return (await this.storedFresh(issuer)) ?? undefined;
    } catch (error) {
      // Store away: an issuer we knew a moment ago is still trusted (fail closed for unknown ones).
      const stale = this.cache.get(issuer, now, { stale: true });
      if (stale !== undefined && stale.value !== null) return stale.value;
      throw error;
    }
  }

  async storedFresh(issuer: string): Promise<StoredTrustedIssuer | null> {
    const raw = await this.deps.store.hashGet(storeKeys.trustedIssuers(), issuer);
    const record = raw === null ? null : (JSON.parse(raw) as StoredTrustedIssuer);
    this.cache.set(issuer, record, this.deps.clock.now() + this.deps.cacheMs);
    return record;
  }

  async allStored(): Promise<StoredTrustedIssuer[]> {
    const entries = await this.deps.store.hashEntries(storeKeys.trustedIssuers());
    return [...entries.values()].map((raw) => JSON.parse(raw) as StoredTrustedIssuer);
  }

  /** False when the issuer is trusted already (declared or stored). */
  async create(record: StoredTrustedIssuer): Promise<boolean> {
    if (this.fixed.has(record.issuer)) return false;
    const created = await this.deps.store.hashSet(storeKeys.trustedIssuers(), record.issuer, JSON.stringify(record), { onlyIfAbsent: true });
    this.cache.delete(record.issuer);
    return created;
  }

  async delete(issuer: string): Promise<boolean> {
    const deleted = await this.deps.store.hashDelete(storeKeys.trustedIssuers(), issuer);
    this.cache.delete(issuer);
    return deleted;
  }

  forgetAll(): void {
    this.cache.clear();
  }
}
