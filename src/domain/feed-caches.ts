import type { Logger } from "pino";
import type { FeedEvent } from "./change-feed.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";

/** What an instance caches that a feed event can make wrong. */
export interface FeedCaches {
  clients: { readThrough: boolean; forget(clientId: string): void; forgetAll(): void };
  apiKeys: { readThrough: boolean; forgetName(name: string): void; forgetAll(): void };
  verifiedTokens: { forgetVerified(matches: (claims: { jti: string; client_id: string }) => boolean): void };
  keyRing: { reload(): Promise<void> };
  /** The tenant's stored trusted issuers (absent where none are kept). */
  trustedIssuers?: { readThrough: boolean; forgetAll(): void };
  /** The default tenant's only: the other tenants loaded on this instance, which tenant_changed makes stale. */
  tenants?: {
    /** The tenants were created, changed or deleted: drops those loaded from a record the store no longer holds (never rejects). */
    changed(tenantIds: readonly string[]): Promise<void>;
    /** Events may have been missed: drops every loaded tenant that is gone or changed in the store (all of them if it cannot tell); never rejects. */
    recheck(): Promise<void>;
  };
}

/** The caches of every tenant loaded on this instance. */
export interface TenantCacheDirectory {
  /** A tenant's caches; undefined when it is not loaded here (nothing of it is cached). */
  of(tenant: string): FeedCaches | undefined;
  all(): Iterable<FeedCaches>;
}

/** A deployment without tenants: everything cached is the default tenant's. */
export function onlyTenant(caches: FeedCaches): TenantCacheDirectory {
  return { of: (tenant) => (tenant === DEFAULT_TENANT ? caches : undefined), all: () => [caches] };
}

/**
 * What the change feed means for this instance's caches: each event drops
 * exactly what it makes stale, and when events may have been missed (the
 * feed could not be read) everything goes. Kept apart from the poller, which
 * decides when each applies, so the cache rules read on their own.
 */
export class FeedCacheInvalidation {
  constructor(
    private readonly caches: FeedCaches,
    private readonly logger: Logger,
  ) {}

  /** Drops what `events` (one page, in feed order) make stale; the key ring is re-read once per page, and awaited: an entry counts as applied when the ring has it. */
  async apply(events: readonly FeedEvent[]): Promise<void> {
    const { caches } = this;
    let reload = false;
    // One pass over the verified-token cache (up to 50,000 entries) per page, not per entry: a burst of
    // 500 revocations once cost 500 passes, ~0.5 s of blocked event loop.
    const revokedJtis = new Set<string>();
    const revokedClients = new Set<string>();
    const changedTenants = new Set<string>();
    for (const event of events) {
      switch (event.type) {
        case "client_changed":
          caches.clients.forget(event.clientId);
          break;
        case "api_key_changed":
          caches.apiKeys.forgetName(event.name);
          break;
        case "access_token_revoked":
          revokedJtis.add(event.jti);
          break;
        case "client_tokens_revoked":
          revokedClients.add(event.clientId);
          break;
        case "signing_keys_changed":
          reload = true;
          break;
        case "tenant_changed":
          changedTenants.add(event.tenantId);
          break;
        case "trusted_issuers_changed":
          caches.trustedIssuers?.forgetAll();
          break;
      }
    }
    if (revokedJtis.size > 0 || revokedClients.size > 0) {
      caches.verifiedTokens.forgetVerified((claims) => revokedJtis.has(claims.jti) || revokedClients.has(claims.client_id));
    }
    if (changedTenants.size > 0) await caches.tenants?.changed([...changedTenants]);
    if (reload) await this.reloadKeys();
  }

  /** Events may have been missed: every cache goes and the key ring is read again. */
  async forgetEverything(): Promise<void> {
    this.caches.clients.forgetAll();
    this.caches.apiKeys.forgetAll();
    this.caches.trustedIssuers?.forgetAll();
    this.caches.verifiedTokens.forgetVerified(() => true);
    await Promise.all([this.reloadKeys(), this.caches.tenants?.recheck()]);
  }

  /** On while the feed cannot be read: a cached client or API key may be stale unannounced, so every lookup asks the store. */
  set readThrough(on: boolean) {
    this.caches.clients.readThrough = on;
    this.caches.apiKeys.readThrough = on;
    if (this.caches.trustedIssuers !== undefined) this.caches.trustedIssuers.readThrough = on;
  }

  private async reloadKeys(): Promise<void> {
    try {
      await this.caches.keyRing.reload();
    } catch (error) {
      // The periodic refresh (signingKeys.refreshSeconds) tries again.
      this.logger.warn({ err: error }, "signing keys changed, but the key ring could not be re-read");
    }
  }
}
