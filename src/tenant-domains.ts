import type { Logger } from "pino";
import type { Domain } from "./app.js";
import type { FeedCaches, TenantCacheDirectory } from "./domain/feed-caches.js";
import type { FeedFollower } from "./domain/feed-follower.js";
import type { TenantRegistry, TenantSpec } from "./domain/tenant-registry.js";
import { DEFAULT_TENANT } from "./store/tenant-store.js";

/** The stand-in for tenants that do not exist: not a valid tenant id, so no real tenant's keys can be its. */
export const UNKNOWN_TENANT = "-";

/** Ids remembered as not existing, at least (see TenantDomains.absent). */
const MAX_ABSENT = 10_000;

/** Stops what a loaded tenant runs in the background (its key maintenance). */
type Stopper = { stop(): void };

/** A tenant loaded here: its domain, its background work, and the stored record it was built from (TenantSpec.revision). */
type Loaded = {
  domain: Domain;
  background: Stopper | undefined;
  revision: string | undefined;
  /** Used since eviction last passed it (a second chance): set on every hit, which costs no Map rewrite. */
  used: boolean;
};

/**
 * Stops a dropped tenant's background work and ends its WatchRevocations
 * streams (once they have sent what the feed holds): nothing keeps its key
 * ring current any more, so its watchers reconnect to a domain that is.
 */
function unload(entry: Loaded): void {
  entry.background?.stop();
  entry.domain.revocationWatch.retire();
}

/**
 * The tenants this instance serves now: the default tenant, always, and up
 * to `capacity` others, each loaded on its first request (its key ring read,
 * its config clients and API keys in place) and dropped when it has been
 * used least recently, so an instance holds only the tenants in use and
 * starts as fast with 10,000 tenants as with one. Loading is coalesced: one
 * load per tenant however many requests wait for it.
 */
export class TenantDomains {
  private defaultDomain: Domain | undefined;
  /** Loaded tenants, least recently used first (Map order, refreshed on use). */
  private readonly loaded = new Map<string, Loaded>();
  private readonly loading = new Map<string, Promise<Domain | undefined>>();
  private follower: FeedFollower | undefined;
  private maintain: ((domain: Domain) => Stopper) | undefined;
  /** Bumped when a tenant is forgotten, so a load that started before does not keep what it read. */
  private generation = 0;
  private standIn: Promise<Domain> | undefined;

  constructor(
    private readonly deps: {
      build(spec: TenantSpec, follower: FeedFollower): Promise<Domain>;
      registry: TenantRegistry;
      capacity: number;
      /** How long an id found not to exist is remembered (the client cache's time): an unknown tenant then costs what an unknown client does. */
      absentMs: number;
      logger: Logger;
    },
  ) {}

  /** Ids found not to exist, with when that stops being trusted (performance.now()); bounded, oldest dropped first. */
  private readonly absent = new Map<string, number>();

  get registry(): TenantRegistry {
    return this.deps.registry;
  }

  follow(follower: FeedFollower): void {
    this.follower = follower;
  }

  /** Runs `start` for every tenant loaded (now and later) but the default, whose background the server runs itself. */
  maintainWith(start: (domain: Domain) => Stopper): void {
    this.maintain = start;
    for (const entry of this.loaded.values()) entry.background ??= start(entry.domain);
  }

  async openDefault(spec: TenantSpec): Promise<Domain> {
    this.defaultDomain = await this.deps.build(spec, this.requireFollower());
    return this.defaultDomain;
  }

  get default(): Domain {
    if (this.defaultDomain === undefined) throw new Error("the default tenant is not open yet");
    return this.defaultDomain;
  }

  /** A tenant's domain if it is loaded now (no store access); marks it used. */
  peek(id: string): Domain | undefined {
    if (id === DEFAULT_TENANT) return this.defaultDomain;
    const entry = this.loaded.get(id);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.domain;
  }

  /** A tenant's domain, loading it first if need be; undefined for a tenant that does not exist. */
  find(id: string): Promise<Domain | undefined> {
    const known = this.peek(id);
    if (known !== undefined) return Promise.resolve(known);
    let load = this.loading.get(id);
    if (load === undefined) {
      load = this.load(id).finally(() => this.loading.delete(id));
      this.loading.set(id, load);
    }
    return load;
  }

  /**
   * The domain that answers for tenants that do not exist: no clients, no
   * API keys, an ephemeral key ring; its store reads find nothing.
   */
  unknown(): Promise<Domain> {
    this.standIn ??= this.deps.build({ id: UNKNOWN_TENANT, clients: [], apiKeys: [], settings: {} }, this.requireFollower());
    return this.standIn;
  }

  /**
   * Drops a tenant's loaded domain (it was deleted or changed): the next
   * request loads it again, or finds it gone. Its WatchRevocations streams
   * end once they have sent what the feed holds for it, so their watchers
   * reconnect to the tenant as it is now.
   */
  forget(id: string): void {
    this.generation++;
    this.absent.delete(id);
    const entry = this.loaded.get(id);
    if (entry === undefined) return;
    this.loaded.delete(id);
    unload(entry);
  }

  /**
   * The tenants were created, changed or deleted elsewhere (their
   * tenant_changed was read from the feed): drops each loaded one whose
   * stored record is no longer the one it was built from, or all of them if
   * the store cannot say. A domain loaded since the change is kept, so its
   * watch streams do not end for nothing. Never rejects.
   */
  async changed(ids: readonly string[]): Promise<void> {
    // Loads in flight re-check what they read; ids remembered as absent may exist now.
    this.generation++;
    for (const id of ids) this.absent.delete(id);
    const loaded = ids.filter((id) => this.loaded.has(id));
    if (loaded.length === 0) return;
    await this.dropStale(loaded, "the tenants changed elsewhere could not be checked against the store: they are dropped and load again on use");
  }

  /**
   * After the feed could not be read (a tenant_changed may have been
   * missed): drops every loaded tenant the store no longer has as it was
   * loaded, or every loaded tenant if the store cannot say. Never rejects.
   */
  async recheck(): Promise<void> {
    this.absent.clear();
    await this.dropStale([...this.loaded.keys()], "the tenants loaded here could not be checked against the store: all are dropped and load again on use");
  }

  /** Drops those of the loaded tenants `ids` that are gone from the store or stored as changed since they were loaded; all of them if it cannot tell. */
  private async dropStale(ids: readonly string[], unreadable: string): Promise<void> {
    let current: Map<string, string | undefined>;
    try {
      current = await this.deps.registry.revisions(ids);
    } catch (error) {
      this.deps.logger.warn({ err: error }, unreadable);
      for (const id of ids) this.forget(id);
      return;
    }
    for (const id of ids) {
      const entry = this.loaded.get(id);
      if (entry !== undefined && (!current.has(id) || current.get(id) !== entry.revision)) this.forget(id);
    }
  }

  get loadedCount(): number {
    return this.loaded.size;
  }

  /** What the feed follower drops stale entries from: only tenants loaded here have any. */
  caches(): TenantCacheDirectory {
    const cachesOf = (domain: Domain): FeedCaches => ({
      clients: domain.clients,
      apiKeys: domain.apiKeys,
      verifiedTokens: domain.accessTokens,
      keyRing: domain.keyRing,
      trustedIssuers: domain.trustedIssuers,
      ...(domain.tenant === DEFAULT_TENANT ? { tenants: this } : {}),
    });
    return {
      of: (tenant) => {
        const domain = tenant === DEFAULT_TENANT ? this.defaultDomain : this.loaded.get(tenant)?.domain;
        return domain === undefined ? undefined : cachesOf(domain);
      },
      all: () => [...(this.defaultDomain ? [this.defaultDomain] : []), ...[...this.loaded.values()].map((entry) => entry.domain)].map(cachesOf),
    };
  }

  /** Stops every loaded tenant's background work. */
  close(): void {
    for (const entry of this.loaded.values()) entry.background?.stop();
    this.loaded.clear();
  }

  private async load(id: string): Promise<Domain | undefined> {
    const generation = this.generation;
    // While the feed cannot be read a tenant created elsewhere would go unannounced: then the store is asked every time.
    const trusted = this.follower?.reachable !== false;
    const absentUntil = this.absent.get(id);
    if (trusted && absentUntil !== undefined && performance.now() < absentUntil) return undefined;
    const spec = await this.deps.registry.find(id);
    if (spec === undefined) {
      if (generation === this.generation) this.rememberAbsent(id);
      return undefined;
    }
    this.absent.delete(id);
    const domain = await this.deps.build(spec, this.requireFollower());
    if (generation !== this.generation) {
      // A tenant changed meanwhile, perhaps this one: keep the domain only if it was built from the record stored now.
      const current = await this.deps.registry.revisions([id]);
      if (!current.has(id)) return undefined;
      if (current.get(id) !== spec.revision) return this.load(id);
    }
    // While the feed cannot be read, a new tenant's caches read through like everyone else's.
    if (this.follower !== undefined && !this.follower.reachable) {
      domain.clients.readThrough = true;
      domain.apiKeys.readThrough = true;
      domain.trustedIssuers.readThrough = true;
    }
    this.loaded.set(id, { domain, background: this.maintain?.(domain), revision: spec.revision, used: true });
    // Second chance (CLOCK): the oldest loaded tenant goes unless used since eviction last passed it, in which
    // case it moves to the back, its mark cleared. Near LRU, without rewriting the Map on every request.
    // A tenant a WatchRevocations stream follows is kept, past the capacity if need be: dropped, it would end
    // the stream, whose watcher would load it again and push out another, watched or not. Never the tenant
    // just loaded (it would load again on every request). Two passes at most.
    for (let turns = 2 * this.loaded.size; this.loaded.size > this.deps.capacity && turns > 0; turns--) {
      const [oldest, entry] = this.loaded.entries().next().value as [string, Loaded];
      this.loaded.delete(oldest);
      if (oldest === id || entry.used || entry.domain.revocationWatch.watching) {
        entry.used = false;
        this.loaded.set(oldest, entry);
        continue;
      }
      unload(entry);
    }
    return domain;
  }

  private rememberAbsent(id: string): void {
    this.absent.delete(id);
    this.absent.set(id, performance.now() + this.deps.absentMs);
    // Bounded like the loaded tenants: probing random ids cannot grow it without end.
    if (this.absent.size > Math.max(this.deps.capacity, MAX_ABSENT)) this.absent.delete(this.absent.keys().next().value as string);
  }

  private requireFollower(): FeedFollower {
    if (this.follower === undefined) throw new Error("TenantDomains.follow() must come first");
    return this.follower;
  }
}
