/**
 * `--tenants N,…` (issue 19): does a call cost the same with 10,000 tenants
 * as with one? For each N the bench starts a fresh system, stores N tenants
 * and the same number of clients in every run, spread evenly over them,
 * straight into Redis (see seedTenants), issues one token per client, and
 * loads `POST /t/<tenant>/oauth2/token` and `/oauth2/introspect` rotating
 * over every client, so consecutive requests go to consecutive tenants. The
 * client count stays fixed so that only the number of tenants changes.
 */
import { basicAuthorization } from "../../src/client/basic-authorization.js";
import { parseConfig } from "../../src/config.js";
import { generateSecret } from "../../src/domain/secret-format.js";
import { bold, commandsPerRequest, dim, formatMs, formatNumber, formatRatio, median, red, table, totalCallsPerRequest, type ScenarioResult } from "./report.js";
import { ISSUE_SCOPE, expectOAuthActive, expectOAuthToken, oauthScenario, type Scenario } from "./scenarios.js";
import type { TenantClient } from "./seed.js";

/** Tokensmith's own default, as its config schema has it. */
export const DEFAULT_TENANT_CACHE_SIZE = parseConfig({}).tenantCacheSize;
/** The goal of issue 19: CPU per call with 10,000 tenants at most this many times that with one. */
export const FLAT_COST_GOAL = 1.1;

export const benchTenantId = (index: number): string => `bench-${String(index).padStart(5, "0")}`;

/** The tenants of a run, in order. */
export const benchTenants = (count: number): string[] => Array.from({ length: count }, (_, index) => benchTenantId(index));

/**
 * `clients` clients over `tenants` tenants, evenly: client i belongs to
 * tenant i mod tenants, so the rotation visits every tenant before any twice.
 */
export function spreadClients(tenants: number, clients: number): TenantClient[] {
  return Array.from({ length: clients }, (_, index) => ({
    tenant: benchTenantId(index % tenants),
    id: `client-${String(index).padStart(5, "0")}`,
    secret: generateSecret("client_secret"),
  }));
}

/** One system to start: N tenants, with Tokensmith's default tenantCacheSize (undefined) or this one. */
export interface TenantRunPlan {
  tenants: number;
  cacheSize: number | undefined;
}

/**
 * Every N with the default tenantCacheSize and, where the default holds
 * fewer than N, again with a cache that holds them all: a spread load then
 * either reloads tenants all the time or never. With `cacheSize`, every N
 * with that cache only.
 */
export function tenantRunPlans(counts: readonly number[], cacheSize?: number): TenantRunPlan[] {
  if (cacheSize !== undefined) return counts.map((tenants) => ({ tenants, cacheSize }));
  return counts.flatMap((tenants) => [
    { tenants, cacheSize: undefined },
    ...(tenants > DEFAULT_TENANT_CACHE_SIZE ? [{ tenants, cacheSize: tenants }] : []),
  ]);
}

/** Parses `1,1000,10000` (also `10k`). */
export function parseTenantCounts(raw: string): number[] {
  const counts = raw.split(",").map((part) => {
    const text = part.trim().toLowerCase();
    const value = text.endsWith("k") ? Number(text.slice(0, -1)) * 1_000 : Number(text);
    if (!Number.isInteger(value) || value < 1 || value > 100_000) throw new Error(`--tenants takes whole numbers from 1 to 100,000, not "${part.trim()}"`);
    return value;
  });
  return [...new Set(counts)].sort((a, b) => a - b);
}

/**
 * One token per client, from its tenant's token endpoint, `concurrency` at a
 * time: every tenant is used (loaded, its key ring created) on the way.
 */
export async function issueTenantTokens(baseUrl: string, clients: readonly TenantClient[], concurrency = 32): Promise<string[]> {
  const tokens: string[] = new Array(clients.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < clients.length; index = next++) {
      const client = clients[index]!;
      const response = await fetch(`${baseUrl}/t/${client.tenant}/oauth2/token`, {
        method: "POST",
        headers: { authorization: basicAuthorization(client.id, client.secret), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", scope: ISSUE_SCOPE }),
      });
      const body = (await response.json()) as { access_token?: string };
      if (response.status !== 200 || body.access_token === undefined) {
        throw new Error(`${client.id} of ${client.tenant}: HTTP ${response.status} ${JSON.stringify(body).slice(0, 200)}`);
      }
      tokens[index] = body.access_token;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tokens;
}

/** The two loads of a run, each rotating over every client (so over every tenant). */
export function tenantScenarios(clients: readonly TenantClient[], tokens: readonly string[]): Scenario[] {
  const authorization = (client: TenantClient) => basicAuthorization(client.id, client.secret);
  return [
    oauthScenario({
      name: "tenant-oauth-token",
      measures: "POST /t/<tenant>/oauth2/token, client_credentials with Basic, rotating over every tenant's clients",
      request: async () =>
        clients.map((client) => ({ path: `/t/${client.tenant}/oauth2/token`, form: { grant_type: "client_credentials", scope: ISSUE_SCOPE }, authorization: authorization(client) })),
      expect: expectOAuthToken,
    }),
    oauthScenario({
      name: "tenant-introspect-jwt",
      measures: "POST /t/<tenant>/oauth2/introspect of each client's own JWT (issued before the run), rotating over every tenant's clients",
      request: async () =>
        clients.map((client, index) => ({ path: `/t/${client.tenant}/oauth2/introspect`, form: { token: tokens[index]! }, authorization: authorization(client) })),
      expect: expectOAuthActive,
    }),
  ];
}

export interface TenantRunResult {
  tenants: number;
  /** The tenantCacheSize in force (Tokensmith's default when the plan set none). */
  cacheSize: number;
  cacheSizeIsDefault: boolean;
  clients: number;
  seedSeconds: number;
  /** Issuing one token per client: every tenant's first use (its record read, its key ring created). */
  firstUseSeconds: number;
  rssAtStartMb: number;
  rssAfterFirstUseMb: number;
  scenarios: ScenarioResult[];
}

/** Tenants an instance holds once the load has visited them all: the cache is the bound. */
const loadedOf = (run: TenantRunResult) => Math.min(run.tenants, run.cacheSize);
const cacheLabel = (run: TenantRunResult) => `${formatNumber(run.cacheSize)}${run.cacheSizeIsDefault ? " (default)" : ""}`;
/** RSS once the load is over: the end of the last scenario. */
const rssAtEnd = (run: TenantRunResult) => run.scenarios.at(-1)?.server?.rssMb ?? Number.NaN;

export interface TenantRatio {
  scenario: string;
  tenants: number;
  cacheSize: number;
  cacheSizeIsDefault: boolean;
  /** CPU µs per call with this many tenants ÷ with the fewest: the median of each round's own ratio. */
  cpuRatio: number;
  /** Each round's ratio, in order. */
  cpuRatios: number[];
  met: boolean;
}

/** The table, the CPU ratios to the run with the fewest tenants, and the RSS per tenant held. */
export function tenantsReport(runs: readonly TenantRunResult[]): { human: string; json: unknown } {
  const base = runs.find((run) => run.tenants === Math.min(...runs.map((candidate) => candidate.tenants)));
  /** CPU µs per call of each round (one value without --repeat). */
  const cpuByRound = (run: TenantRunResult | undefined, scenario: string) => {
    const result = run?.scenarios.find((candidate) => candidate.name === scenario);
    return result?.rounds?.cpuMicrosPerRequest ?? [result?.server?.cpuMicrosPerRequest ?? Number.NaN];
  };
  const ratios: TenantRatio[] = [];
  for (const run of runs) {
    if (base === undefined || run === base) continue;
    for (const result of run.scenarios) {
      const baseCpu = cpuByRound(base, result.name);
      const cpuRatios = cpuByRound(run, result.name).map((cpu, round) => cpu / (baseCpu[round] ?? Number.NaN));
      const cpuRatio = median(cpuRatios);
      ratios.push({ scenario: result.name, tenants: run.tenants, cacheSize: run.cacheSize, cacheSizeIsDefault: run.cacheSizeIsDefault, cpuRatio, cpuRatios, met: cpuRatio <= FLAT_COST_GOAL });
    }
  }
  const repeated = runs.some((run) => run.scenarios.some((result) => result.rounds !== undefined));
  const rows = runs.flatMap((run) =>
    run.scenarios.map((result) => {
      const ratio = ratios.find((r) => r.scenario === result.name && r.tenants === run.tenants && r.cacheSize === run.cacheSize);
      return [
        result.status === "ok" ? result.name : `${result.name} FAILED`,
        formatNumber(run.tenants),
        cacheLabel(run),
        formatNumber(result.load?.requestsPerSecond),
        formatMs(result.load?.latencyMs.p50),
        formatMs(result.load?.latencyMs.p99),
        formatNumber((result.load?.non2xx ?? 0) + (result.load?.errorCount ?? 0)),
        formatNumber(result.server?.cpuMicrosPerRequest),
        run === base ? "1.00×" : formatRatio(ratio?.cpuRatio),
        ...(repeated ? [run === base ? "-" : (ratio?.cpuRatios ?? []).map((value) => formatNumber(value, 2)).join(" ")] : []),
        formatNumber(result.server?.loopMicrosPerRequest),
        formatNumber(result.server?.rssMb),
        formatNumber(totalCallsPerRequest(result), 2),
        commandsPerRequest(result),
      ];
    }),
  );
  const memory = runs.map((run) => {
    const loaded = loadedOf(run);
    const extra = base !== undefined && run !== base ? loaded - loadedOf(base) : 0;
    const perTenantKb = (rss: (of: TenantRunResult) => number) => (extra > 0 && base !== undefined ? ((rss(run) - rss(base)) * 1024) / extra : Number.NaN);
    return {
      tenants: run.tenants,
      cacheSize: run.cacheSize,
      loaded,
      seedSeconds: run.seedSeconds,
      firstUseSeconds: run.firstUseSeconds,
      rssAtStartMb: run.rssAtStartMb,
      rssAfterFirstUseMb: run.rssAfterFirstUseMb,
      rssAtEndMb: rssAtEnd(run),
      perTenantKbAfterFirstUse: perTenantKb((of) => of.rssAfterFirstUseMb),
      perTenantKbAtEnd: perTenantKb(rssAtEnd),
      run,
    };
  });
  const largest = Math.max(...runs.map((run) => run.tenants));
  const verdicts = ratios.filter((ratio) => ratio.tenants === largest);
  const human = [
    table(
      [
        "scenario",
        "tenants",
        "tenantCacheSize",
        "req/s",
        "p50 ms",
        "p99 ms",
        "failed",
        "CPU µs/req",
        "CPU vs fewest",
        ...(repeated ? ["per round"] : []),
        "loop µs/req",
        "RSS MB",
        "redis/req",
        "redis commands per request",
      ],
      rows,
    ),
    "",
    table(
      ["tenants", "tenantCacheSize", "held", "seeded s", "first use s", "RSS start MB", "RSS after first use MB", "RSS end MB", "KB/tenant held, first use", "KB/tenant held, end"],
      memory.map((row) => [
        formatNumber(row.tenants),
        cacheLabel(row.run),
        formatNumber(row.loaded),
        formatNumber(row.seedSeconds, 1),
        formatNumber(row.firstUseSeconds, 1),
        formatNumber(row.rssAtStartMb),
        formatNumber(row.rssAfterFirstUseMb),
        formatNumber(row.rssAtEndMb),
        formatNumber(row.perTenantKbAfterFirstUse, 1),
        formatNumber(row.perTenantKbAtEnd, 1),
      ]),
      0,
    ),
    "",
    dim(`Each tenant count: a server and redis-server of its own, ${formatNumber(runs[0]?.clients)} clients spread evenly over the tenants (client i in tenant i mod N), one token each; the load rotates over every client, so over every tenant.`),
    dim(
      repeated
        ? "CPU vs fewest: the median over the rounds of each round's server CPU µs per call ÷ the fewest-tenant system's in the same round; each row is the round with the median req/s."
        : "CPU vs fewest: server CPU µs per call ÷ the same scenario's on the system with the fewest tenants.",
    ),
    dim("Every system runs from the start to the end; each scenario runs on one system after the other (reversed every other round). redis/req: commands Redis executed per request in the measured window (INFO commandstats)."),
    dim("held: tenants the instance holds once every tenant was used (min(tenants, tenantCacheSize)). first use s: one token per client, every tenant loaded for the first time."),
    dim("KB/tenant held: (RSS − the fewest-tenant run's RSS) ÷ the extra tenants held; after first use (before the load: steadier) and at the end (after the load, young generation grown)."),
    ...(verdicts.length > 0
      ? [
          "",
          bold(`issue 19 goal, CPU per call with ${formatNumber(largest)} tenants ≤ ${FLAT_COST_GOAL}× that with ${formatNumber(base?.tenants)}, this run:`),
          ...verdicts.map(
            (v) => `  ${v.met ? "met    " : red("NOT met")}  ${v.scenario}, tenantCacheSize ${formatNumber(v.cacheSize)}${v.cacheSizeIsDefault ? " (default)" : ""}: ${formatRatio(v.cpuRatio)}`,
          ),
        ]
      : []),
  ].join("\n");
  return { human, json: { runs, cpuRatios: ratios, memory: memory.map(({ run: _run, ...row }) => row) } };
}
