import { describe, expect, it } from "vitest";
import { foldRounds, type ScenarioResult } from "../../bench/lib/report.js";
import { spreadSample } from "../../bench/lib/scenarios.js";
import { DEFAULT_TENANT_CACHE_SIZE, parseTenantCounts, spreadClients, tenantRunPlans, tenantsReport, type TenantRunResult } from "../../bench/lib/tenants.js";

/** The --tenants bench's plan and arithmetic: how clients spread, which systems run, the ratios and the memory per tenant. */

describe("spreadClients", () => {
  it("spreads the clients evenly, consecutive clients in consecutive tenants, so the rotation visits every tenant before any twice", () => {
    const clients = spreadClients(4, 10);
    expect(clients.map((client) => client.tenant)).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1].map((index) => `bench-${String(index).padStart(5, "0")}`));
    expect(new Set(clients.map((client) => client.id)).size).toBe(10);
    expect(new Set(clients.map((client) => client.secret)).size).toBe(10);
  });
});

describe("tenantRunPlans", () => {
  it("runs every count with the default tenantCacheSize, and again with a cache holding all when the default holds fewer", () => {
    expect(DEFAULT_TENANT_CACHE_SIZE).toBe(1_000);
    expect(tenantRunPlans([1, 1_000, 10_000])).toEqual([
      { tenants: 1, cacheSize: undefined },
      { tenants: 1_000, cacheSize: undefined },
      { tenants: 10_000, cacheSize: undefined },
      { tenants: 10_000, cacheSize: 10_000 },
    ]);
  });

  it("with a tenantCacheSize given, runs every count with that one only", () => {
    expect(tenantRunPlans([1, 10_000], 10_000)).toEqual([
      { tenants: 1, cacheSize: 10_000 },
      { tenants: 10_000, cacheSize: 10_000 },
    ]);
  });
});

describe("parseTenantCounts", () => {
  it("takes a list (10k = 10,000), sorted, without repeats; refuses what is not a count", () => {
    expect(parseTenantCounts("10k, 1,1000,1")).toEqual([1, 1_000, 10_000]);
    for (const bad of ["0", "1.5", "x", "200000"]) expect(() => parseTenantCounts(bad)).toThrow(/--tenants/);
  });
});

describe("spreadSample", () => {
  it("keeps everything when short; otherwise evenly spaced items, first and last included", () => {
    expect(spreadSample([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(spreadSample(Array.from({ length: 101 }, (_, index) => index), 5)).toEqual([0, 25, 50, 75, 100]);
  });
});

describe("tenantsReport", () => {
  const scenario = (name: string, cpu: number, rssMb = 200): ScenarioResult => ({
    name,
    family: "oauth-h1",
    tool: "wrk",
    isFloor: false,
    status: "ok",
    problems: [],
    server: { cpuPercent: 100, cpuMicrosPerRequest: cpu, rssMb, processes: 1 },
  });
  const run = (tenants: number, cacheSize: number, rounds: ScenarioResult[][], rssAfterFirstUseMb: number): TenantRunResult => ({
    tenants,
    cacheSize,
    cacheSizeIsDefault: cacheSize === DEFAULT_TENANT_CACHE_SIZE,
    clients: 10_000,
    seedSeconds: 0.2,
    firstUseSeconds: 5,
    rssAtStartMb: 90,
    rssAfterFirstUseMb,
    scenarios: foldRounds(rounds),
  });

  it("takes each round's CPU ratio to the fewest-tenant system's in the same round, then the median; judges the largest count against 1.1×", () => {
    // The machine slows down in round 2: both systems pay for it, the round's ratio stays put.
    const one = run(1, 1_000, [[scenario("tenant-oauth-token", 100)], [scenario("tenant-oauth-token", 200)], [scenario("tenant-oauth-token", 100)]], 150);
    const many = run(10_000, 10_000, [[scenario("tenant-oauth-token", 105)], [scenario("tenant-oauth-token", 210)], [scenario("tenant-oauth-token", 130)]], 345);
    const { json, human } = tenantsReport([one, many]);
    const { cpuRatios, memory } = json as { cpuRatios: Array<{ cpuRatio: number; cpuRatios: number[]; met: boolean }>; memory: Array<{ perTenantKbAfterFirstUse: number }> };
    expect(cpuRatios).toHaveLength(1);
    expect(cpuRatios[0]!.cpuRatios.map((ratio) => Number(ratio.toFixed(3)))).toEqual([1.05, 1.05, 1.3]);
    expect(cpuRatios[0]!.cpuRatio).toBeCloseTo(1.05, 9);
    expect(cpuRatios[0]!.met).toBe(true);
    // 195 MB more for 9,999 more tenants held.
    expect(memory[1]!.perTenantKbAfterFirstUse).toBeCloseTo((195 * 1024) / 9_999, 6);
    expect(human).toMatch(/^ {2}met +tenant-oauth-token, tenantCacheSize 10,000: 1\.05×$/m);
  });

  it("counts the tenants held, not the tenants: a default cache smaller than the count holds only the cache's worth", () => {
    const one = run(1, 1_000, [[scenario("tenant-oauth-token", 100)]], 150);
    const evicting = run(10_000, 1_000, [[scenario("tenant-oauth-token", 300)]], 170);
    const { json, human } = tenantsReport([one, evicting]);
    const { memory } = json as { memory: Array<{ loaded: number; perTenantKbAfterFirstUse: number }> };
    expect(memory[1]!.loaded).toBe(1_000);
    expect(memory[1]!.perTenantKbAfterFirstUse).toBeCloseTo((20 * 1024) / 999, 6);
    expect(human).toMatch(/NOT met +tenant-oauth-token, tenantCacheSize 1,000 \(default\): 3\.00×/);
  });
});
