import type { Store } from "../store/store.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";
import type { ApiKey } from "./api-key.js";
import type { Client } from "./client.js";
import type { Clock } from "./clock.js";

/** A tenant id: a lower-case DNS label, so it fits in URLs, hash tags and host names alike. */
export const TENANT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A tenant as an instance builds it: its id and what the config file declares for it. */
export interface TenantSpec {
  id: string;
  clients: Client[];
  apiKeys: ApiKey[];
}

/** A tenant created through the AdminService, as kept in the store. */
export interface StoredTenant {
  id: string;
  createdAt: number;
  displayName?: string;
}

/** The hash of stored tenants, in the deployment's own (the default tenant's) key space. */
export const TENANTS_KEY = "admin:{tenants}";

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

  /** The spec of a tenant other than the default; undefined when there is no such tenant. One store read at most. */
  async find(id: string): Promise<TenantSpec | undefined> {
    if (id === DEFAULT_TENANT || !TENANT_ID.test(id)) return undefined;
    const declared = this.declared.get(id);
    if (declared !== undefined) return declared;
    const raw = await this.deps.store.hashGet(TENANTS_KEY, id);
    return raw === null ? undefined : { id, clients: [], apiKeys: [] };
  }

  isDeclared(id: string): boolean {
    return this.declared.has(id);
  }

  declaredIds(): string[] {
    return [...this.declared.keys()];
  }

  async stored(): Promise<StoredTenant[]> {
    const entries = await this.deps.store.hashEntries(TENANTS_KEY);
    return [...entries.values()].map((raw) => JSON.parse(raw) as StoredTenant).sort((a, b) => a.id.localeCompare(b.id));
  }

  async storedOne(id: string): Promise<StoredTenant | undefined> {
    const raw = await this.deps.store.hashGet(TENANTS_KEY, id);
    return raw === null ? undefined : (JSON.parse(raw) as StoredTenant);
  }

  /** Creates a tenant; false when the id is taken (declared, stored, or the default). */
  async create(record: StoredTenant): Promise<boolean> {
    if (record.id === DEFAULT_TENANT || this.declared.has(record.id)) return false;
    return this.deps.store.hashSet(TENANTS_KEY, record.id, JSON.stringify(record), { onlyIfAbsent: true });
  }

  async save(record: StoredTenant): Promise<void> {
    await this.deps.store.hashSet(TENANTS_KEY, record.id, JSON.stringify(record));
  }

  /** Resolves true when the tenant was stored. */
  delete(id: string): Promise<boolean> {
    return this.deps.store.hashDelete(TENANTS_KEY, id);
  }
}
