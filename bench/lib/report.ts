/** Aligned tables for humans, and the shared shape of results. */
import { percentile, type LoadResult } from "./tools.js";
import type { Family } from "./scenarios.js";

export interface ScenarioResult {
  name: string;
  /** The name plus the phase, when a scenario runs more than once (--data). */
  label?: string;
  family: Family;
  tool: "wrk" | "h2load";
  isFloor: boolean;
  /** ok: ran with every response a success; failed: verification failed, or non-2xx/errors under load. */
  status: "ok" | "failed";
  problems: string[];
  load?: LoadResult;
  server?: {
    /** % of one core over the measured window, summed over the server's process tree. */
    cpuPercent: number;
    /** Server CPU time per request, in microseconds: robust to a busy load generator. */
    cpuMicrosPerRequest: number;
    /** The main threads (event loops) alone, % of one core: ~100 per process means the event loop is what limits req/s. */
    loopPercent?: number;
    /** Event-loop CPU per request, in microseconds (the signing thread, libuv's pool and GC helpers excluded). */
    loopMicrosPerRequest?: number;
    /** VmRSS of the server and its children at the end of the scenario. */
    rssMb: number;
    processes: number;
  };
  redisCpuPercent?: number;
  /** Commands Redis executed per request over the measured window, by command (INFO commandstats; a Cluster's masters summed). */
  redisCallsPerRequest?: Record<string, number>;
  /** The part of all the machine's cores that sat idle during the measured window (0 = every core busy). */
  machineIdlePercent?: number;
  /** With --repeat: every round's req/s and ratio to its floor, in round order (the row shows the median round). */
  rounds?: {
    requestsPerSecond: number[];
    p99Ms: number[];
    cpuMicrosPerRequest: number[];
    throughputVsFloor: number[];
    cpuPerRequestVsFloor: number[];
    loopPerRequestVsFloor: number[];
  };
  /** Compared with the floor of the same protocol family, measured in the same run. */
  vsFloor?: {
    floor: string;
    /** true: a different protocol (OAuth form endpoints vs Connect JSON), shown for context only. */
    context: boolean;
    /** req/s ÷ floor req/s (1 = as fast as Ping). */
    throughput: number;
    /** p50 ÷ floor p50. */
    p50: number;
    /** server CPU per request ÷ the floor's (how many Pings one request costs). */
    cpuPerRequest: number;
    /** event-loop CPU per request ÷ the floor's: when both event loops are saturated, req/s ÷ floor is about its inverse. */
    loopPerRequest: number;
  };
}

const color = (code: number) => (text: string) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[${code}m${text}\x1b[0m` : text);
export const red = color(31);
export const bold = color(1);
export const dim = color(2);

export function formatNumber(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatMs(value: number | undefined): string {
  if (value === undefined) return "-";
  return formatNumber(value, value < 10 ? 2 : value < 100 ? 1 : 0);
}

export function formatRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  return `${formatNumber(value, 2)}×`;
}

/** Columns whose header starts with a letter are left-aligned; the rest (numbers) right-aligned. */
export function table(headers: string[], rows: string[][], leftAligned = 1): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column < leftAligned ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

export const SCENARIO_HEADERS = [
  "scenario",
  "tool",
  "req/s",
  "p50 ms",
  "p99 ms",
  "p99.9 ms",
  "non-2xx",
  "errors",
  "srv CPU%",
  "CPU µs/req",
  "loop%",
  "loop µs/req",
  "RSS MB",
  "redis CPU%",
  "idle%",
  "rps/floor",
  "cost/floor",
  "loop/floor",
];

export function scenarioRow(result: ScenarioResult): string[] {
  const load = result.load;
  const mark = result.vsFloor?.context ? "*" : "";
  const vs = (value: number | undefined) => (result.isFloor ? "floor" : result.vsFloor ? `${formatRatio(value)}${mark}` : "-");
  return [
    result.status === "ok" ? result.name : `${result.name} FAILED`,
    load?.shape ?? result.tool,
    formatNumber(load?.requestsPerSecond),
    formatMs(load?.latencyMs.p50),
    formatMs(load?.latencyMs.p99),
    formatMs(load?.latencyMs.p999),
    formatNumber(load?.non2xx),
    formatNumber(load?.errorCount),
    formatNumber(result.server?.cpuPercent, 0),
    formatNumber(result.server?.cpuMicrosPerRequest),
    formatNumber(result.server?.loopPercent),
    formatNumber(result.server?.loopMicrosPerRequest, 1),
    formatNumber(result.server?.rssMb),
    formatNumber(result.redisCpuPercent),
    formatNumber(result.machineIdlePercent),
    vs(result.vsFloor?.throughput),
    vs(result.vsFloor?.cpuPerRequest),
    vs(result.vsFloor?.loopPerRequest),
  ];
}

/** Commands several Redis nodes executed (INFO commandstats of each, e.g. a Cluster's masters), added up by command. */
export function sumCommandCounts(counts: ReadonlyArray<Record<string, number>>): Record<string, number> {
  const total: Record<string, number> = {};
  for (const node of counts) for (const [command, calls] of Object.entries(node)) total[command] = (total[command] ?? 0) + calls;
  return total;
}

/** The store's work per request, e.g. "hget 0.51, get 0.10", the busiest commands first (the bench's own INFO left out). */
export function commandsPerRequest(result: ScenarioResult): string {
  const calls = Object.entries(result.redisCallsPerRequest ?? {})
    .filter(([command, perRequest]) => perRequest >= 0.005 && command !== "info")
    .sort((a, b) => b[1] - a[1]);
  return calls.length === 0 ? "-" : calls.map(([command, perRequest]) => `${command} ${formatNumber(perRequest, 2)}`).join(", ");
}

export const totalCallsPerRequest = (result: ScenarioResult) =>
  Object.entries(result.redisCallsPerRequest ?? {}).reduce((sum, [command, perRequest]) => (command === "info" ? sum : sum + perRequest), 0);

/** A table of the Redis commands each counted scenario cost per request; "" when none was counted. */
export function redisCommandsTable(results: ScenarioResult[]): string {
  const counted = results.filter((result) => result.redisCallsPerRequest !== undefined);
  if (counted.length === 0) return "";
  return table(
    ["scenario", "redis/req", "redis commands per request"],
    counted.map((result) => [result.label ?? result.name, formatNumber(totalCallsPerRequest(result), 2), commandsPerRequest(result)]),
  );
}

/** Fills vsFloor for every result whose floor ran successfully in the same run. */
export function compareWithFloors(results: ScenarioResult[], floorOf: (result: ScenarioResult) => { floor: string; context: boolean }): void {
  for (const result of results) {
    if (result.isFloor || result.load === undefined) continue;
    const { floor, context } = floorOf(result);
    const base = results.find((candidate) => candidate.name === floor);
    if (base?.load === undefined || base.status !== "ok" || base.load.requestsPerSecond === 0) continue;
    result.vsFloor = {
      floor,
      context,
      throughput: result.load.requestsPerSecond / base.load.requestsPerSecond,
      p50: base.load.latencyMs.p50 > 0 ? result.load.latencyMs.p50 / base.load.latencyMs.p50 : Number.NaN,
      cpuPerRequest:
        result.server && base.server && base.server.cpuMicrosPerRequest > 0
          ? result.server.cpuMicrosPerRequest / base.server.cpuMicrosPerRequest
          : Number.NaN,
      loopPerRequest: (result.server?.loopMicrosPerRequest ?? Number.NaN) / (base.server?.loopMicrosPerRequest ?? Number.NaN),
    };
  }
}

export const median = (values: readonly number[]): number => {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/**
 * Folds several rounds of the same scenarios (each round compared with its
 * own floors) into one result per scenario: the row of the round with the
 * median req/s, and the median of the rounds' ratios, so one noisy moment on
 * a shared machine moves neither. Any failed round fails the scenario.
 */
export function foldRounds(rounds: ScenarioResult[][]): ScenarioResult[] {
  const first = rounds[0] ?? [];
  if (rounds.length === 1) return first;
  return first.map((_, index) => {
    const runs = rounds.map((round) => round[index] as ScenarioResult);
    const rps = runs.map((run) => run.load?.requestsPerSecond ?? Number.NaN);
    const measured = runs.filter((run) => run.load !== undefined).sort((a, b) => (a.load as LoadResult).requestsPerSecond - (b.load as LoadResult).requestsPerSecond);
    const shown = measured[Math.floor((measured.length - 1) / 2)] ?? (runs[0] as ScenarioResult);
    const folded: ScenarioResult = {
      ...shown,
      status: runs.every((run) => run.status === "ok") ? "ok" : "failed",
      problems: runs.flatMap((run, round) => run.problems.map((problem) => `round ${round + 1}: ${problem}`)),
      rounds: {
        requestsPerSecond: rps,
        p99Ms: runs.map((run) => run.load?.latencyMs.p99 ?? Number.NaN),
        cpuMicrosPerRequest: runs.map((run) => run.server?.cpuMicrosPerRequest ?? Number.NaN),
        throughputVsFloor: runs.map((run) => run.vsFloor?.throughput ?? Number.NaN),
        cpuPerRequestVsFloor: runs.map((run) => run.vsFloor?.cpuPerRequest ?? Number.NaN),
        loopPerRequestVsFloor: runs.map((run) => run.vsFloor?.loopPerRequest ?? Number.NaN),
      },
    };
    if (shown.vsFloor) {
      folded.vsFloor = {
        ...shown.vsFloor,
        throughput: median(folded.rounds!.throughputVsFloor),
        cpuPerRequest: median(folded.rounds!.cpuPerRequestVsFloor),
        loopPerRequest: median(folded.rounds!.loopPerRequestVsFloor),
      };
    }
    return folded;
  });
}

/** The req/s of every round, for the table: "min–max". */
export function roundsRange(result: ScenarioResult): string {
  const values = (result.rounds?.requestsPerSecond ?? []).filter((value) => Number.isFinite(value));
  if (values.length < 2) return "-";
  return `${formatNumber(Math.min(...values))}–${formatNumber(Math.max(...values))}`;
}

/** The performance targets of issue #7 that the chosen scenarios can speak to, each met or not in this run. */
export interface TargetVerdict {
  target: string;
  measured: string;
  met: boolean;
}

/** `openLoopRate`: the run sent a fixed rate (--rate), so its latencies are those at that rate. */
export function targetVerdicts(results: ScenarioResult[], openLoopRate?: number): TargetVerdict[] {
  const verdicts: TargetVerdict[] = [];
  const named = (name: string) => results.find((result) => result.name === name && result.status === "ok" && result.load !== undefined);
  // Open loop, the generator sends at most the offered rate (less the requests cut off at the end):
  // serving 99 % of an offered 11k counts as serving 11k.
  const required = openLoopRate === undefined ? 11_000 : 11_000 * 0.99;
  const served = (rps: number) => rps >= required;
  const oauth = named("oauth-token");
  if (oauth?.load) {
    verdicts.push({ target: "POST /oauth2/token ≥ 11,000 req/s", measured: `${formatNumber(oauth.load.requestsPerSecond)} req/s`, met: served(oauth.load.requestsPerSecond) });
    const at = openLoopRate === undefined ? "50 connections, closed loop" : `${formatNumber(openLoopRate)} req/s offered, open loop`;
    verdicts.push({ target: `POST /oauth2/token p99 ≤ 10 ms (${at})`, measured: `${formatMs(oauth.load.latencyMs.p99)} ms`, met: oauth.load.latencyMs.p99 <= 10 });
  }
  for (const name of ["introspect-jwt-connect-json-h1", "introspect-jwt-oauth-h1"]) {
    const introspect = named(name);
    if (introspect?.load) {
      verdicts.push({ target: `${name} ≥ 11,000 req/s`, measured: `${formatNumber(introspect.load.requestsPerSecond)} req/s`, met: served(introspect.load.requestsPerSecond) });
    }
  }
  const compared = results.filter((result) => !result.isFloor && result.vsFloor !== undefined && !result.vsFloor.context);
  if (compared.length > 0) {
    const below = compared.filter((result) => (result.vsFloor as { throughput: number }).throughput < 0.8);
    verdicts.push({
      target: "every Connect/gRPC scenario ≥ 0.8× its floor",
      measured: below.length === 0 ? `lowest ${formatRatio(Math.min(...compared.map((r) => r.vsFloor!.throughput)))}` : `below: ${below.map((r) => `${r.name} ${formatRatio(r.vsFloor!.throughput)}`).join(", ")}`,
      met: below.length === 0,
    });
  }
  return verdicts;
}

/** Nearest-rank p50 and p99, and the maximum, of some durations (ms); NaN for none. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarizeLatencies(values: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] as number };
}

/** The goals of issue 18 for revocation: every verifier refuses a revoked token within 100 ms (p99), and none is missed. */
export function propagationVerdicts(overall: LatencySummary, misses: number, expected: number, missAfterMs: number): TargetVerdict[] {
  return [
    {
      target: "revoked token refused by every verifier within 100 ms of the Revoke's acknowledgement (p99)",
      measured: overall.count === 0 ? "no refusal seen" : `p99 ${formatMs(overall.p99)} ms (p50 ${formatMs(overall.p50)}, max ${formatMs(overall.max)}, ${formatNumber(overall.count)} refusals)`,
      met: overall.count > 0 && overall.p99 <= 100,
    },
    {
      target: `0 misses (a revoked token some verifier did not refuse within ${formatNumber(missAfterMs / 1000)} s)`,
      measured: `${formatNumber(misses)} of ${formatNumber(expected)}`,
      met: expected > 0 && misses === 0,
    },
  ];
}

/** The verdict lines under a heading, as the bench prints its targets. */
export function verdictLines(heading: string, verdicts: readonly TargetVerdict[]): string[] {
  return verdicts.length === 0 ? [] : ["", bold(heading), ...verdicts.map((v) => `  ${v.met ? "met    " : red("NOT met")}  ${v.target}: ${v.measured}`)];
}

/** Loud lines for every failure, or an empty list. */
export function problemLines(results: ScenarioResult[]): string[] {
  const lines: string[] = [];
  for (const result of results) {
    for (const problem of result.problems) lines.push(`!!! ${result.label ?? result.name}: ${problem}`);
  }
  return lines;
}

/** What went wrong under load, from the load generator's counts; empty when every response was a 2xx. */
export function loadProblems(load: LoadResult): string[] {
  const problems: string[] = [];
  if (load.non2xx > 0) {
    const statuses = Object.entries(load.statuses)
      .filter(([status]) => !status.startsWith("2"))
      .map(([status, n]) => `HTTP ${status}: ${n}`)
      .join(", ");
    problems.push(`${load.non2xx} non-2xx responses (${statuses})`);
  }
  if (load.errorCount > 0) {
    const errors = Object.entries(load.errors)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${kind}: ${n}`)
      .join(", ");
    problems.push(`${load.errorCount} transport errors (${errors})`);
  }
  if (load.requests === 0) problems.push("no request completed");
  return problems;
}
