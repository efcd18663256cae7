import type { Logger } from "pino";
import { isOrigin } from "../http/cors.js";
import type { Store } from "../store/store.js";
import { DEFAULT_TENANT, tenantKeyPrefix } from "../store/tenant-store.js";
import { alreadyExists, checkClientId, paginate, type Administration, type ClientView, type Page } from "./administration.js";
import type { AuditTrail } from "./audit-trail.js";
import type { ChangeFeed } from "./change-feed.js";
import type { Clock } from "./clock.js";
import { invalidRequest, OAuthError } from "./oauth-error.js";
import { ADMIN_SCOPE } from "./scopes.js";
import { changeStored, notFound } from "./stored-change.js";
import { TENANT_ID, type StoredTenant, type TenantRegistry, type TenantSettings } from "./tenant-registry.js";
import { hasTerminalControls } from "./terminal-controls.js";

/** A tenant as platform administrators see it. Settings as set: 0 (or no origins) means the deployment's. */
export interface TenantView {
  id: string;
  displayName: string;
  source: "config" | "store";
  issuer: string;
  createdAt?: number;
  /** Set while its data is being removed: it no longer exists for any other call. */
  deletedAt?: number;
  defaultTokenLifetimeSeconds: number;
  maxTokenLifetimeSeconds: number;
  corsAllowedOrigins: string[];
}

/** The fields a create or an update sets; in an update a field present changes, and "", [] or 0 puts it back to the deployment's. */
export interface TenantChanges {
  displayName?: string;
  defaultTokenLifetimeSeconds?: number;
  maxTokenLifetimeSeconds?: number;
  corsAllowedOrigins?: readonly string[];
}

export interface TenantAdministrationSettings {
  defaultTokenLifetimeSeconds: number;
  maxTokenLifetimeSeconds: number;
  /** Keys removed per store round trip when a deleted tenant's data goes. */
  purgeBatchSize: number;
  /** How long after the first sweep of a deleted tenant's keys the second one runs (see removeData). */
  purgeSettleMs: number;
}

const MAX_DISPLAY_NAME = 200;
const MAX_ORIGINS = 50;

const readOnly = (id: string) =>
  new OAuthError(
    "invalid_request",
    "failed_precondition",
    id === DEFAULT_TENANT ? `tenant "${id}" is the deployment's own and is read-only here` : `tenant "${id}" is declared in the config file and is read-only here`,
  );

const beingDeleted = (id: string, since: number) =>
  new OAuthError(
    "invalid_request",
    "failed_precondition",
    `tenant "${id}" is being deleted (since ${new Date(since).toISOString()}): its id is free again once its data is gone, when GetTenant answers NotFound; if that does not come, DeleteTenant it again to resume`,
  );

function checkTenantId(id: string): void {
  if (!TENANT_ID.test(id)) throw invalidRequest("tenant id must be 1-63 lower-case letters, digits or '-', not starting or ending with '-'");
}

/**
 * Platform administration (issue 19): creating, changing and deleting
 * tenants. The RPCs are guarded by Administration.authorizePlatform; this
 * class trusts its caller.
 *
 * Every change is written, then announced (`tenant_changed` in the default
 * tenant's view of the feed), so every instance drops the tenant's loaded
 * domain within one feed poll and loads it again as it is now, or finds it
 * gone. Deletion: see deleteTenant.
 */
export class TenantAdministration {
  /** Deleted tenants whose data this instance is removing. */
  private readonly purges = new Map<string, Promise<void>>();
  private readonly closing = new AbortController();

  constructor(
    private readonly deps: {
      registry: TenantRegistry;
      /** The tenants loaded on this instance. */
      tenants: {
        find(id: string): Promise<{ administration: Pick<Administration, "createClient" | "auditTrail"> } | undefined>;
        forget(id: string): void;
      };
      /** The store itself (the default tenant's key space, where every tenant's keys are). */
      store: Store;
      /** A tenant's view of the deployment's feed. */
      feedOf(tenant: string): ChangeFeed;
      issuerOf(tenant: string): string;
      /** Removes what a deleted tenant kept outside the store (its key ring file, with the memory store and a dataDir). */
      removeFiles?(tenant: string): Promise<void>;
      clock: Clock;
      logger: Logger;
      settings: TenantAdministrationSettings;
    },
  ) {}

  /**
   * Creates a tenant; with `adminClientId`, also its first admin client
   * (scope `tokensmith:admin` in the new tenant), whose secret is returned
   * once. If that client cannot be made, the tenant is deleted again: a
   * tenant nobody can administer is of no use.
   */
  async createTenant(
    request: { id: string; adminClientId?: string } & TenantChanges,
  ): Promise<{ tenant: TenantView; adminClient?: ClientView; adminClientSecret?: string; /** The new tenant's audit trail, where its admin client's creation is recorded. */ tenantTrail?: AuditTrail }> {
    const { id, adminClientId } = request;
    checkTenantId(id);
    if (adminClientId) checkClientId(adminClientId, "admin_client_id");
    if (id === DEFAULT_TENANT || this.deps.registry.isDeclared(id)) throw alreadyExists(`tenant "${id}"`);
    const record: StoredTenant = { id, createdAt: this.deps.clock.now() };
    this.applyChanges(record, request);
    if (!(await this.deps.registry.create(record))) {
      const existing = (await this.deps.registry.storedOne(id))?.record;
      if (existing?.deletedAt !== undefined) throw beingDeleted(id, existing.deletedAt);
      throw alreadyExists(`tenant "${id}"`);
    }
    await this.announce(id);
    const tenant = this.viewStored(record);
    if (!adminClientId) return { tenant };
    try {
      const domain = await this.deps.tenants.find(id);
      if (domain === undefined) throw notFound(`tenant "${id}"`);
      const created = await domain.administration.createClient({ id: adminClientId, scopes: [ADMIN_SCOPE] });
      return { tenant, adminClient: created.client, tenantTrail: domain.administration.auditTrail, ...(created.secret !== undefined ? { adminClientSecret: created.secret } : {}) };
    } catch (error) {
      await this.remove(id).catch((undo: unknown) => {
        this.deps.logger.error({ err: undo, tenant: id }, "a tenant whose admin client could not be created could not be deleted again: DeleteTenant it");
      });
      throw error;
    }
  }

  async getTenant(id: string): Promise<TenantView> {
    checkTenantId(id);
    if (id === DEFAULT_TENANT || this.deps.registry.isDeclared(id)) return this.viewFixed(id);
    const stored = await this.deps.registry.storedOne(id);
    if (stored === undefined) throw notFound(`tenant "${id}"`);
    return this.viewStored(stored.record);
  }

  /** The default tenant, the declared ones and the stored ones (those being deleted too), by id. */
  async listTenants(pageSize: number, pageToken: string): Promise<Page<TenantView>> {
    const all = [
      this.viewFixed(DEFAULT_TENANT),
      ...this.deps.registry.declaredIds().map((id) => this.viewFixed(id)),
      ...(await this.deps.registry.stored()).map((record) => this.viewStored(record)),
    ];
    return paginate(all, (tenant) => tenant.id, pageSize, pageToken);
  }

  async updateTenant(id: string, changes: TenantChanges): Promise<TenantView> {
    checkTenantId(id);
    if (id === DEFAULT_TENANT || this.deps.registry.isDeclared(id)) throw readOnly(id);
    const record = await this.changeStored(id, (record) => {
      if (record.deletedAt !== undefined) throw beingDeleted(id, record.deletedAt);
      this.applyChanges(record, changes);
      return true;
    });
    await this.announce(id);
    return this.viewStored(record);
  }

  /**
   * Every token of the tenant stops being active at once, everywhere, and
   * its data goes:
   * 1. the record is marked deleted: the tenant no longer loads anywhere,
   *    and its id cannot be taken until its data is gone;
   * 2. its feed gets `signing_keys_changed` with no key published, so
   *    verifiers following it (tokensmith/verifier) drop all its keys;
   * 3. `tenant_changed` makes every instance drop its loaded domain (within
   *    a feed poll; this one at once): it then answers as for a tenant that
   *    does not exist (invalid_client), and its watch streams end;
   * 4. after the answer, its keys are removed from the store in batches in
   *    the background (removeData), then the record.
   * A failure in 1-3 answers Unavailable; calling again carries on, as it
   * does for a deletion whose background removal did not finish.
   */
  async deleteTenant(id: string): Promise<void> {
    checkTenantId(id);
    if (id === DEFAULT_TENANT || this.deps.registry.isDeclared(id)) throw readOnly(id);
    await this.remove(id);
  }

  /** Resolves once this instance has finished removing `id`'s data (at once if it is not removing it). */
  async purged(id: string): Promise<void> {
    await this.purges.get(id);
  }

  /** Stops waiting between sweeps: a removal left unfinished is finished by calling DeleteTenant again. */
  close(): void {
    this.closing.abort();
  }

  /** Marked deleted as it is now, so an update that wrote first keeps its changes; then steps 2-4 of deleteTenant. */
  private async remove(id: string): Promise<void> {
    await this.changeStored(id, (record) => {
      if (record.deletedAt !== undefined) return false;
      record.deletedAt = this.deps.clock.now();
      return true;
    });
    try {
      await this.deps.feedOf(id).append({ type: "signing_keys_changed", signingKeyIds: [] });
    } finally {
      // Unreachable here from now on, whatever the announcements do; after the empty key list, which this instance's watchers get before their streams end.
      this.deps.tenants.forget(id);
    }
    await this.announce(id);
    this.purge(id);
  }

  /**
   * The stored tenant `id` changed by `change` and written back only if no
   * other call wrote it meanwhile (see changeStored in stored-change.ts): an
   * update that read the tenant before DeleteTenant marked it would unmark
   * it, and the tenant would load again while its data goes.
   */
  private changeStored(id: string, change: (record: StoredTenant) => boolean): Promise<StoredTenant> {
    return changeStored(
      `tenant "${id}"`,
      { read: () => this.deps.registry.storedOne(id), write: (record, revision) => this.deps.registry.save(record, revision) },
      change,
    );
  }

  /** Dropped here first, so this instance acts on the change even if the announcement to the others fails. */
  private async announce(id: string): Promise<void> {
    this.deps.tenants.forget(id);
    await this.deps.feedOf(DEFAULT_TENANT).append({ type: "tenant_changed", tenantId: id });
  }

  private purge(id: string): void {
    if (this.purges.has(id)) return;
    const removal = this.removeData(id)
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error, tenant: id }, "a deleted tenant's data could not all be removed: DeleteTenant it again to carry on");
      })
      .finally(() => this.purges.delete(id));
    this.purges.set(id, removal);
  }

  /**
   * Two sweeps of the tenant's key space: one now, and one once every
   * instance has surely heard of the deletion (`purgeSettleMs`), for what an
   * instance that still had the tenant loaded wrote meanwhile (a grant, a
   * rate-limit counter). Only then does the record go, freeing the id, so a
   * tenant created again with it starts from nothing. Each sweep first checks
   * the record is still there, marked deleted: an instance removing it too
   * may have freed the id, and a tenant created again must keep its data.
   */
  private async removeData(id: string): Promise<void> {
    const started = performance.now();
    const { purgeBatchSize, purgeSettleMs } = this.deps.settings;
    let keys = 0;
    for (const sweep of [1, 2]) {
      if (sweep === 2) await abortableDelay(purgeSettleMs, this.closing.signal);
      if (this.closing.signal.aborted) return;
      // Another instance removing it too may have finished and freed the id, and the tenant may exist again: its data stays.
      if (!(await this.stillDeleted(id))) {
        this.deps.logger.info({ tenant: id, keys }, "deleted tenant's data removed elsewhere: its id is free again");
        return;
      }
      keys += await this.deps.store.deleteByPrefix(tenantKeyPrefix(id), purgeBatchSize);
    }
    await this.deps.removeFiles?.(id);
    const stored = await this.deps.registry.storedOne(id);
    if (stored?.record.deletedAt !== undefined) await this.deps.registry.remove(stored);
    this.deps.logger.info({ tenant: id, keys, ms: Math.round(performance.now() - started) }, "deleted tenant's data removed; its id is free again");
  }

  /** Whether the tenant's record is still there, marked deleted. */
  private async stillDeleted(id: string): Promise<boolean> {
    return (await this.deps.registry.storedOne(id))?.record.deletedAt !== undefined;
  }

  private applyChanges(record: StoredTenant, changes: TenantChanges): void {
    if (changes.displayName !== undefined) {
      if (changes.displayName.length > MAX_DISPLAY_NAME || hasTerminalControls(changes.displayName)) {
        throw invalidRequest(`display_name: at most ${MAX_DISPLAY_NAME} characters, no control or bidi characters`);
      }
      if (changes.displayName === "") delete record.displayName;
      else record.displayName = changes.displayName;
    }
    const settings: TenantSettings = { ...record.settings };
    const deploymentMax = this.deps.settings.maxTokenLifetimeSeconds;
    const max = changes.maxTokenLifetimeSeconds;
    if (max !== undefined && max !== 0 && !(Number.isInteger(max) && max >= 1 && max <= deploymentMax)) {
      throw invalidRequest(`max_token_lifetime_seconds must be between 1 and the deployment's maxTokenLifetimeSeconds (${deploymentMax}), or 0 for the deployment's`);
    }
    if (max !== undefined) settings.maxTokenLifetimeSeconds = max === 0 ? undefined : max;
    const tenantMax = settings.maxTokenLifetimeSeconds ?? deploymentMax;
    const lifetime = changes.defaultTokenLifetimeSeconds;
    if (lifetime !== undefined && lifetime !== 0 && !(Number.isInteger(lifetime) && lifetime >= 1 && lifetime <= tenantMax)) {
      throw invalidRequest(`default_token_lifetime_seconds must be between 1 and the tenant's maximum (${tenantMax}), or 0 for the deployment's`);
    }
    if (lifetime !== undefined) settings.defaultTokenLifetimeSeconds = lifetime === 0 ? undefined : lifetime;
    if (settings.defaultTokenLifetimeSeconds !== undefined && settings.defaultTokenLifetimeSeconds > tenantMax) {
      throw invalidRequest(`default_token_lifetime_seconds (${settings.defaultTokenLifetimeSeconds}) would exceed max_token_lifetime_seconds (${tenantMax}): lower it too`);
    }
    if (changes.corsAllowedOrigins !== undefined) settings.corsAllowedOrigins = checkOrigins(changes.corsAllowedOrigins);
    // Kept without empty settings, so the stored record says only what was set.
    const set = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0)));
    if (Object.keys(set).length > 0) record.settings = set;
    else delete record.settings;
  }

  private viewFixed(id: string): TenantView {
    return {
      id,
      displayName: "",
      source: "config",
      issuer: this.deps.issuerOf(id),
      defaultTokenLifetimeSeconds: 0,
      maxTokenLifetimeSeconds: 0,
      corsAllowedOrigins: [],
    };
  }

  private viewStored(record: StoredTenant): TenantView {
    const settings = record.settings ?? {};
    return {
      id: record.id,
      displayName: record.displayName ?? "",
      source: "store",
      issuer: this.deps.issuerOf(record.id),
      createdAt: record.createdAt,
      ...(record.deletedAt !== undefined ? { deletedAt: record.deletedAt } : {}),
      defaultTokenLifetimeSeconds: settings.defaultTokenLifetimeSeconds ?? 0,
      maxTokenLifetimeSeconds: settings.maxTokenLifetimeSeconds ?? 0,
      corsAllowedOrigins: [...(settings.corsAllowedOrigins ?? [])],
    };
  }
}

function checkOrigins(origins: readonly string[]): string[] {
  if (origins.length > MAX_ORIGINS) throw invalidRequest(`cors_allowed_origins: at most ${MAX_ORIGINS}`);
  const bad = origins.find((origin) => origin === "*" || !isOrigin(origin));
  if (bad !== undefined) {
    throw invalidRequest(`cors_allowed_origins: "${bad.slice(0, 100)}" is not an origin (scheme://host[:port] in lower case, no path or trailing slash; no *)`);
  }
  return [...new Set(origins)];
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener("abort", done);
  });
}
