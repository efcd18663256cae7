import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Domain } from "../../src/app.js";
import type { FeedFollower } from "../../src/domain/feed-follower.js";
import type { TenantRegistry, TenantSpec } from "../../src/domain/tenant-registry.js";
import { TenantDomains } from "../../src/tenant-domains.js";

/**
 * Which tenants an instance keeps loaded (issue 19 item 5), as a unit: a
 * bounded cache that drops the tenant not used for longest, approximately
 * (second chance), without rewriting its map on every request.
 */
function tenantCache(capacity: number, exists: (id: string) => boolean = () => true) {
  /** Each tenant's stored record (its revision): "1" unless a test changes it; revisions() fails while `storeDown`. */
  const stored = new Map<string, string>();
  const state = { storeDown: false };
  const revisionOf = (id: string) => stored.get(id) ?? "1";
  const built: string[] = [];
  const lookups: string[] = [];
  /** The tenants whose domains were dropped, in order: each one's watch streams were told to end. */
  const retired: string[] = [];
  /** Tenants a WatchRevocations stream follows (when their domain is built). */
  const watched = new Set<string>();
  const registry = {
    find: async (id: string): Promise<TenantSpec | undefined> => {
      lookups.push(id);
      return exists(id) ? { id, clients: [], apiKeys: [], settings: {} as TenantSpec["settings"], revision: revisionOf(id) } : undefined;
    },
    revisions: async (ids: readonly string[]) => {
      if (state.storeDown) throw new Error("store down");
      return new Map(ids.filter(exists).map((id) => [id, revisionOf(id)]));
    },
  } as unknown as TenantRegistry;
  const tenants = new TenantDomains({
    build: async (spec) => {
      built.push(`${spec.id}@${spec.revision}`);
      return { tenant: spec.id, revocationWatch: { retire: () => retired.push(spec.id), watching: watched.has(spec.id) } } as unknown as Domain;
    },
    registry,
    capacity,
    absentMs: 60_000,
    logger: pino({ level: "silent" }),
  });
  const follower = { reachable: true } as { reachable: boolean };
  tenants.follow(follower as FeedFollower);
  return { tenants, built, lookups, follower, retired, stored, state, watched };
}

describe("TenantDomains' cache", () => {
  it("keeps a tenant used since the last eviction pass and drops one that was not", async () => {
    const { tenants, built, retired } = tenantCache(2);
    await tenants.find("a");
    await tenants.find("b");
    expect(tenants.peek("a")?.tenant).toBe("a");
    // b and a were both used since loading; c pushes one out: the first pass clears marks, then the oldest unmarked goes.
    await tenants.find("c");
    expect(tenants.loadedCount).toBe(2);
    tenants.peek("c");
    await tenants.find("d");
    expect(tenants.loadedCount).toBe(2);
    expect(tenants.peek("c")?.tenant).toBe("c");
    expect(tenants.peek("d")?.tenant).toBe("d");
    expect(built).toEqual(["a@1", "b@1", "c@1", "d@1"]);
    // Each dropped tenant's watch streams end (nothing keeps its key ring current any more); the kept ones' do not.
    expect(retired).toHaveLength(2);
    expect(retired).not.toContain("c");
    expect(retired).not.toContain("d");
  });

  it("keeps a tenant a WatchRevocations stream follows, past the capacity if need be, and drops the others as usual", async () => {
    const { tenants, retired, watched } = tenantCache(2);
    watched.add("a").add("b");
    await tenants.find("a");
    await tenants.find("b");
    await tenants.find("c");
    await tenants.find("d");
    // Every loaded tenant watched or just loaded: more than the capacity, and no load waits on a pass that cannot end.
    expect(["a", "b", "d"].map((id) => tenants.peek(id)?.tenant)).toEqual(["a", "b", "d"]);
    expect(tenants.peek("c")).toBeUndefined();
    expect(retired).toEqual(["c"]);
  });

  it("never drops the tenant it has just loaded, even when every other was used", async () => {
    const { tenants } = tenantCache(2);
    await tenants.find("a");
    await tenants.find("b");
    tenants.peek("a");
    tenants.peek("b");
    await tenants.find("c");
    expect(tenants.peek("c")?.tenant).toBe("c");
  });

  it("loads a tenant once however many requests wait for it, and a dropped one again on its next use", async () => {
    const { tenants, built } = tenantCache(1);
    await Promise.all([tenants.find("a"), tenants.find("a"), tenants.find("a")]);
    await tenants.find("b");
    await tenants.find("a");
    expect(built).toEqual(["a@1", "b@1", "a@1"]);
  });

  it("remembers that a tenant does not exist, as a client registry remembers an unknown client: an unknown tenant costs what an unknown client of a known tenant does", async () => {
    const created = new Set<string>();
    const { tenants, lookups, follower } = tenantCache(10, (id) => created.has(id));
    expect([await tenants.find("nobody"), await tenants.find("nobody")]).toEqual([undefined, undefined]);
    expect(lookups).toEqual(["nobody"]);
    // Created on another instance: its tenant_changed makes this one forget what it remembered.
    created.add("nobody");
    tenants.forget("nobody");
    expect((await tenants.find("nobody"))?.tenant).toBe("nobody");
    // While the feed cannot be read, nothing unannounced can be trusted: every lookup asks the store.
    const before = lookups.length;
    follower.reachable = false;
    await tenants.find("ghost");
    await tenants.find("ghost");
    expect(lookups.length - before).toBe(2);
  });

  it("a tenant_changed read from the feed drops a loaded tenant only if its stored record changed or went (or the store cannot say)", async () => {
    const created = new Set(["a", "b", "c", "d"]);
    const { tenants, retired, stored, state } = tenantCache(10, (id) => created.has(id));
    const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map((id) => tenants.find(id)));
    stored.set("b", "2");
    created.delete("c");
    await tenants.changed(["a", "b", "c", "not-loaded"]);
    expect(tenants.peek("a")).toBe(a);
    expect(tenants.peek("b")).toBeUndefined();
    expect(tenants.peek("c")).toBeUndefined();
    expect(retired).toEqual(["b", "c"]);
    expect((await tenants.find("b"))).not.toBe(b);
    state.storeDown = true;
    await tenants.changed(["d"]);
    expect(tenants.peek("d")).toBeUndefined();
    expect(d).toBeDefined();
    expect(c).toBeDefined();
  });

  it("a tenant changed while it was loading is built again from the record stored now", async () => {
    const { tenants, built, stored } = tenantCache(10);
    const loading = tenants.find("a");
    // The load has read revision 1; the change lands and is read from the feed before the load ends.
    stored.set("a", "2");
    await tenants.changed(["a"]);
    await loading;
    expect(built).toEqual(["a@1", "a@2"]);
    const domain = tenants.peek("a");
    await tenants.changed(["a"]);
    expect(tenants.peek("a")).toBe(domain);
  });
});
