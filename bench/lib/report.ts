/** Aligned tables for humans, and the shared shape of results. */
import type { LoadResult } from "./tools.js";
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
    /** VmRSS of the server and its children at the end of the scenario. */
    rssMb: number;
    processes: number;
  };
  redisCpuPercent?: number;
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
  "RSS MB",
  "redis CPU%",
  "rps/floor",
  "cost/floor",
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
    formatNumber(result.server?.rssMb),
    formatNumber(result.redisCpuPercent),
    vs(result.vsFloor?.throughput),
    vs(result.vsFloor?.cpuPerRequest),
  ];
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
    };
  }
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
