/**
 * The load generators: wrk (HTTP/1.1, scripted in Lua) and h2load (HTTP/2,
 * h2c with prior knowledge). Both run as child processes; their results are
 * parsed into one shape.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface ToolInfo {
  name: "wrk" | "h2load";
  debianPackage: string;
  purpose: string;
}

export const TOOLS: Record<"wrk" | "h2load", ToolInfo> = {
  wrk: { name: "wrk", debianPackage: "wrk", purpose: "HTTP/1.1 load (Connect JSON and the OAuth endpoints)" },
  h2load: { name: "h2load", debianPackage: "nghttp2-client", purpose: "HTTP/2 load (gRPC and Connect binary)" },
};

/** The absolute path of an executable on $PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    if (dir === "") continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Throws one message naming every missing tool and the Debian package that provides it. */
export function requireTools(names: ReadonlyArray<"wrk" | "h2load">): Record<string, string> {
  const found: Record<string, string> = {};
  const missing: ToolInfo[] = [];
  for (const name of new Set(names)) {
    const where = which(name);
    if (where === undefined) missing.push(TOOLS[name]);
    else found[name] = where;
  }
  if (missing.length > 0) {
    const lines = missing.map((tool) => `  ${tool.name.padEnd(7)} ${tool.purpose}: Debian/Ubuntu package "${tool.debianPackage}"`);
    const packages = missing.map((tool) => tool.debianPackage).join(" ");
    throw new Error(
      `the benchmark needs load generators that are not installed:\n${lines.join("\n")}\n` +
        `install them with:  sudo apt-get install ${packages}\n` +
        `(or pick scenarios that do not need them with --scenarios)`,
    );
  }
  return found;
}

// --- running child processes --------------------------------------------------

/** Load generators currently running, so Ctrl-C can stop them. */
export const runningTools = new Set<ChildProcess>();

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command line for error messages, with credentials blanked out. */
function shown(command: string, args: string[]): string {
  return [command, ...args.map((arg) => arg.replace(/^(authorization:\s*\w+\s+).*/i, "$1…"))]
    .map((arg) => (/[\s"']/.test(arg) ? `'${arg}'` : arg))
    .join(" ");
}

function run(command: string, args: string[], timeoutMs: number): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    runningTools.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      runningTools.delete(child);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      runningTools.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// --- results -------------------------------------------------------------------

export interface LoadResult {
  /** Completed requests in the measured window (responses received). */
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  /** Responses with a status outside 2xx. */
  non2xx: number;
  /** Transport-level failures (connect/read/write/timeout, or h2load failed/errored/timeout). */
  errors: Record<string, number>;
  errorCount: number;
  /** What the tool was asked to do, e.g. "wrk -t1 -c50" or "h2load -c5 -m10". */
  shape: string;
}

/** One HTTP request, as the load generator sends it. */
export interface RequestSpec {
  method: "POST" | "GET";
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

// --- wrk -------------------------------------------------------------------------

function luaLongString(text: string): string {
  for (let level = 0; level < 10; level++) {
    const eq = "=".repeat(level);
    if (!text.includes(`]${eq}]`)) return `[${eq}[${text}]${eq}]`;
  }
  throw new Error("cannot quote the request body for Lua");
}

/**
 * A wrk script: one request sent repeatedly (wrk.method/body/headers), or
 * several in rotation (request()). `response()` counts statuses per thread;
 * `done()` gathers them and prints one JSON line prefixed BENCH_RESULT.
 * Latencies from wrk are in microseconds.
 */
export function wrkScript(requests: RequestSpec[]): string {
  const lines: string[] = [];
  if (requests.length === 1) {
    const [only] = requests as [RequestSpec];
    lines.push(`wrk.method = "${only.method}"`, `wrk.path = ${luaLongString(only.path)}`, `wrk.body = ${luaLongString(only.body.toString("utf8"))}`);
    for (const [name, value] of Object.entries(only.headers)) lines.push(`wrk.headers[ ${luaLongString(name)} ] = ${luaLongString(value)}`);
  } else {
    lines.push("local prepared = {}", "local next_index = 0", "function init(args)");
    for (const spec of requests) {
      const headers = Object.entries(spec.headers)
        .map(([name, value]) => `[ ${luaLongString(name)} ] = ${luaLongString(value)}`)
        .join(", ");
      lines.push(
        `  table.insert(prepared, wrk.format("${spec.method}", ${luaLongString(spec.path)}, { ${headers} }, ${luaLongString(spec.body.toString("utf8"))}))`,
      );
    }
    lines.push("end", "function request()", "  next_index = next_index % #prepared + 1", "  return prepared[next_index]", "end");
  }
  lines.push(`
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses") or {}
    for code, n in pairs(counted) do
      local key = tostring(code)
      counts[key] = (counts[key] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(counts) do
    table.insert(parts, string.format('"%s":%d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p99":%d,"p999":%d,"max":%d},"statuses":{%s}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    table.concat(parts, ",")))
end
`);
  return `${lines.join("\n")}\n`;
}

interface WrkReport {
  requests: number;
  duration_us: number;
  errors: Record<string, number>;
  latency_us: { p50: number; p99: number; p999: number; max: number };
  statuses: Record<string, number>;
}

export interface LoadOptions {
  baseUrl: string;
  requests: RequestSpec[];
  connections: number;
  durationSeconds: number;
  threads: number;
  /** Where scripts, bodies and logs go. */
  workDir: string;
  tag: string;
  /** Open loop (h2load only): this many requests per second in total, spread over the connections. */
  rate?: number;
  /** h2load over HTTP/1.1 (one request at a time per connection) instead of h2c. */
  h1?: boolean;
}

export async function runWrk(options: LoadOptions): Promise<LoadResult> {
  const scriptPath = path.join(options.workDir, `${options.tag}.lua`);
  writeFileSync(scriptPath, wrkScript(options.requests));
  const threads = Math.max(1, Math.min(options.threads, options.connections));
  const firstPath = options.requests[0]?.path ?? "/";
  const args = [
    `-t${threads}`,
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    "--timeout",
    "10s",
    "-s",
    scriptPath,
    `${options.baseUrl}${firstPath}`,
  ];
  const finished = await run("wrk", args, (options.durationSeconds + 60) * 1000);
  // wrk reports Lua errors on stderr and carries on (sending whatever the script managed to set up).
  if (finished.stderr.trim() !== "") throw new Error(`${shown("wrk", args)} reported:\n${finished.stderr.trim()}`);
  const line = finished.stdout.split("\n").find((candidate) => candidate.startsWith("BENCH_RESULT "));
  if (line === undefined) {
    throw new Error(`${shown("wrk", args)} printed no result (exit ${finished.code ?? finished.signal}):\n${finished.stdout}\n${finished.stderr}`);
  }
  const report = JSON.parse(line.slice("BENCH_RESULT ".length)) as WrkReport;
  const durationSeconds = report.duration_us / 1e6;
  const non2xx = Object.entries(report.statuses)
    .filter(([status]) => !status.startsWith("2"))
    .reduce((sum, [, n]) => sum + n, 0);
  // errors.status (wrk: status > 399) duplicates the status counts; keep the transport errors.
  const { status: _statusErrors, ...transport } = report.errors;
  const errorCount = Object.values(transport).reduce((sum, n) => sum + n, 0);
  return {
    requests: report.requests,
    durationSeconds,
    requestsPerSecond: durationSeconds > 0 ? report.requests / durationSeconds : 0,
    latencyMs: {
      p50: report.latency_us.p50 / 1000,
      p99: report.latency_us.p99 / 1000,
      p999: report.latency_us.p999 / 1000,
      max: report.latency_us.max / 1000,
    },
    statuses: report.statuses,
    non2xx,
    errors: transport,
    errorCount,
    shape: `wrk -t${threads} -c${options.connections}`,
  };
}

// --- h2load ------------------------------------------------------------------------

/** Splits a total concurrency into h2 connections × streams: about 10 streams per connection, as a multiplexing client would. */
export function h2Shape(concurrency: number): { connections: number; streams: number } {
  const connections = Math.max(1, Math.ceil(concurrency / 10));
  return { connections, streams: Math.max(1, Math.ceil(concurrency / connections)) };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? 0;
}

function matchNumbers(text: string, pattern: RegExp): number[] | undefined {
  const match = pattern.exec(text);
  return match ? match.slice(1).map(Number) : undefined;
}

/**
 * h2load with --log-file: one line per request, "start_us<TAB>status<TAB>duration_us".
 * Requests still in flight when the duration ends are logged with status 0
 * (h2load cut them off): they are neither latencies nor errors.
 */
export async function runH2load(options: LoadOptions): Promise<LoadResult> {
  const [spec] = options.requests;
  if (spec === undefined || options.requests.length !== 1) throw new Error("h2load scenarios send exactly one request shape");
  if (spec.body.length === 0) throw new Error("h2load cannot send an empty body (-d needs a non-empty file): give the request at least one field");
  const bodyPath = path.join(options.workDir, `${options.tag}.body`);
  const logPath = path.join(options.workDir, `${options.tag}.log`);
  writeFileSync(bodyPath, spec.body);
  writeFileSync(logPath, "");
  const shape = options.h1 ? { connections: options.connections, streams: 1 } : h2Shape(options.connections);
  const threads = Math.max(1, Math.min(options.threads, shape.connections));
  const perConnection = options.rate === undefined ? undefined : Math.max(1, Math.round(options.rate / shape.connections));
  const args = [
    ...(options.h1 ? ["--h1"] : []),
    ...(perConnection === undefined ? [] : [`--rps=${perConnection}`]),
    `-t${threads}`,
    `-c${shape.connections}`,
    `-m${shape.streams}`,
    `-D${options.durationSeconds}`,
    "-d",
    bodyPath,
    `--log-file=${logPath}`,
    ...Object.entries(spec.headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
    `${options.baseUrl}${spec.path}`,
  ];
  const finished = await run("h2load", args, (options.durationSeconds + 60) * 1000);
  const out = finished.stdout;
  const totals = matchNumbers(out, /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/);
  const codes = matchNumbers(out, /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  if (totals === undefined || codes === undefined) {
    throw new Error(`${shown("h2load", args)} printed no summary (exit ${finished.code ?? finished.signal}):\n${out}\n${finished.stderr}`);
  }
  const [, , , , failed = 0, errored = 0, timeout = 0] = totals;
  const [, c3xx = 0, c4xx = 0, c5xx = 0] = codes;

  const durations: number[] = [];
  const statuses: Record<string, number> = {};
  let cutOff = 0;
  for (const line of readFileSync(logPath, "utf8").split("\n")) {
    if (line === "") continue;
    const [, status = "0", duration = "0"] = line.split("\t");
    if (status === "0") {
      cutOff++;
      continue;
    }
    statuses[status] = (statuses[status] ?? 0) + 1;
    durations.push(Number(duration));
  }
  const sorted = Float64Array.from(durations).sort();
  const non2xxFromLog = Object.entries(statuses)
    .filter(([status]) => !status.startsWith("2"))
    .reduce((sum, [, n]) => sum + n, 0);
  // h2load's "failed" = non-2xx responses + "errored" streams (reset, connection lost): count each once.
  const non2xx = Math.max(non2xxFromLog, c3xx + c4xx + c5xx);
  const errors: Record<string, number> = { errored, timeout, otherFailed: Math.max(0, failed - non2xx - errored) };
  const allowedCutOff = shape.connections * shape.streams;
  if (cutOff > allowedCutOff) errors.unanswered = cutOff - allowedCutOff;
  const errorCount = Object.values(errors).reduce((sum, n) => sum + n, 0);
  return {
    requests: durations.length,
    durationSeconds: options.durationSeconds,
    requestsPerSecond: durations.length / options.durationSeconds,
    latencyMs: {
      p50: percentile(sorted, 50) / 1000,
      p99: percentile(sorted, 99) / 1000,
      p999: percentile(sorted, 99.9) / 1000,
      max: (sorted[sorted.length - 1] ?? 0) / 1000,
    },
    statuses,
    non2xx,
    errors,
    errorCount,
    shape: `h2load${options.h1 ? " --h1" : ""} -t${threads} -c${shape.connections} -m${shape.streams}${perConnection === undefined ? "" : ` --rps=${perConnection}`}`,
  };
}

/**
 * Loads a scenario the way the bench does: closed loop with its own tool;
 * open loop (`rate`) with h2load at that rate, over HTTP/1.1 where the
 * scenario is a wrk (HTTP/1.1) one.
 */
export function runScenarioLoad(scenarioTool: "wrk" | "h2load", options: Omit<LoadOptions, "h1">): Promise<LoadResult> {
  if (options.rate === undefined) return scenarioTool === "wrk" ? runWrk(options) : runH2load(options);
  return runH2load({ ...options, h1: scenarioTool === "wrk" });
}
