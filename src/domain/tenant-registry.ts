import type { Store } from "../store/store.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";
import type { ApiKey } from "./api-key.js";
import type { Client } from "./client.js";
import type { Clock } from "./clock.js";
import type { Revised } from "./stored-change.js";

/** A tenant id: a lower-case DNS label, so it fits in URLs, hash tags and host names alike. */
export const TENANT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** What a tenant may set for itself; each setting left out is the deployment's. */
export interface TenantSettings {
  /** The lifetime of its clients' tokens when a client sets none; at most its maximum. */
  defaultTokenLifetimeSeconds?: number;
  /** The longest lifetime any of its clients may have; at most the deployment's maxTokenLifetimeSeconds. */
  maxTokenLifetimeSeconds?: number;
  /** Browser origins allowed to call it at /t/<tenant>/, besides the deployment's cors.allowedOrigins. */
  corsAllowedOrigins?: readonly string[];
}

/** A tenant as an instance builds it: its id, its settings and what the config file declares for it. */
export interface TenantSpec {
  id: string;
  clients: Client[];
  apiKeys: ApiKey[];
  settings: TenantSettings;
  /** The stored record it was built from, as stored (undefined for the default and declared tenants): a changed record means a stale domain. */
  revision?: string;
}

/** A tenant created through the AdminService, as kept in the store. */
export interface StoredTenant {
  id: string;
  createdAt: number;
  displayName?: string;
  settings?: TenantSettings;
  /**
   * Set by DeleteTenant: the tenant no longer exists for any call, and its id
   * cannot be taken again until its data is gone (then the record goes too).
   */
  deletedAt?: number;
}

/** The hash of stored tenants, in the deployment's own (the default tenant's) key space. */
export const TENANTS_KEY = "admin:{tenants}";

/** Up to this many tenants' revisions are read one by one (HGET each) rather than with every record (HGETALL). */
const FEW_REVISIONS = 16;

/**
 * Which tenants exist: those the config file declares (read-only, with their
 * clients and API keys) and those created through the AdminService (in the
 * store). The default tenant always exists and is not listed here.
 */
export class TenantRegistry {
  private readonly declared: Map<string, TenantSpec>;

  constructor(private readonly deps: { store: Store; clock: Clock; declared: readonly TenantSpec[] }) {
    this.declared = new Map(deps.declared.map((spec) => [spec.id, spec]));
  }

  /** The spec of a tenant other than the default; undefined when there is no such tenant (or it is being deleted). One store read at most. */
  async find(id: string): Promise<TenantSpec | undefined> {
    if (id === DEFAULT_TENANT || !TENANT_ID.test(id)) return undefined;
    const declared = this.declared.get(id);
    if (declared !== undefined) return declared;
    const raw = await this.deps.store.hashGet(TENANTS_KEY, id);
    if (raw === null) return undefined;
    const record = JSON.parse(raw) as StoredTenant;
    if (record.deletedAt !== undefined) return undefined;
    return { id, clients: [], apiKeys: [], settings: record.settings ?? {}, revision: raw };
  }

  /**
   * Of the tenants `ids`, those that exist now, each with its revision (see
   * TenantSpec): a few (a tenant_changed, a load that raced one) read one by
   * one, more in one read of every tenant's record.
   */
  async revisions(ids: readonly string[]): Promise<Map<string, string | undefined>> {
    const wanted = ids.filter((id) => !this.declared.has(id));
    const found = wanted.length <= FEW_REVISIONS ? await this.storedRaw(wanted) : await this.deps.store.hashEntries(TENANTS_KEY);
    const current = new Map<string, string | undefined>();
    for (const id of ids) {
      if (this.declared.has(id)) current.set(id, undefined);
      const raw = found.get(id);
      if (raw !== undefined && (JSON.parse(raw) as StoredTenant).deletedAt === undefined) current.set(id, raw);
    }
    return current;
  }

  /** The stored records of `ids` as stored (absent ids left out). */
  private async storedRaw(ids: readonly string[]): Promise<Map<string, string>> {
    const raws = await Promise.all(ids.map((id) => this.deps.store.hashGet(TENANTS_KEY, id)));
    const found = new Map<string, string>();
    ids.forEach((id, i) => {
      const raw = raws[i];
      if (raw !== null && raw !== undefined) found.set(id, raw);
    });
    return found;
  }

  isDeclared(id: string): boolean {
    return this.declared.has(id);
  }

  declaredIds(): string[] {
    return [...this.declared.keys()];
  }

  /** Every stored tenant, those being deleted too, by id. */
  async stored(): Promise<StoredTenant[]> {
    const entries = await this.deps.store.hashEntries(TENANTS_KEY);
    return [...entries.values()].map((raw) => JSON.parse(raw) as StoredTenant).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** A stored tenant, those being deleted too, with its revision: the value as stored, which save() compares. */
  async storedOne(id: string): Promise<Revised<StoredTenant> | undefined> {
    const raw = await this.deps.store.hashGet(TENANTS_KEY, id);
    return raw === null ? undefined : { record: JSON.parse(raw) as StoredTenant, revision: raw };
  }

  /** Creates a tenant; false when the id is taken (declared, stored, being deleted, or the default). */
  async create(record: StoredTenant): Promise<boolean> {
    if (record.id === DEFAULT_TENANT || this.declared.has(record.id)) return false;
    return this.deps.store.hashSet(TENANTS_KEY, record.id, JSON.stringify(record), { onlyIfAbsent: true });
  }

  /**
   * Writes `record` over the stored tenant read at `revision`; false, writing
   * nothing, when another call has written it since (or it is gone): a plain
   * write would undo what that call did, a deletion's mark among them.
   */
  save(record: StoredTenant, revision: string): Promise<boolean> {
    return this.deps.store.hashCompareAndSet(TENANTS_KEY, record.id, revision, JSON.stringify(record));
  }

  /** Removes the record read, only while it is stored as read (compare-and-delete): true when removed. */
  remove(stored: Revised<StoredTenant>): Promise<boolean> {
    return this.deps.store.hashCompareAndDelete(TENANTS_KEY, stored.record.id, stored.revision);
  }
}
