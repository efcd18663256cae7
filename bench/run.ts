/**
 * `npm run bench`: load-tests Tokensmith (a separate child process, backed by
 * a redis-server of its own) with wrk and h2load, and prints req/s,
 * latencies, errors and the server's CPU and memory per scenario, each
 * compared with the no-op floor (DiagnosticsService.Ping) of its protocol.
 * See bench/README.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CpuMeter, MachineMeter, childrenNamed, machineLoad, microsPerRequest, treeRssMb, treeSize } from "./lib/proc.js";
import {
  SCENARIO_HEADERS,
  bold,
  compareWithFloors,
  dim,
  foldRounds,
  roundsRange,
  targetVerdicts,
  verdictLines,
  type TargetVerdict,
  formatMs,
  formatNumber,
  formatRatio,
  loadProblems,
  problemLines,
  red,
  redisCommandsTable,
  scenarioRow,
  sumCommandCounts,
  table,
  type ScenarioResult,
} from "./lib/report.js";
import { FAMILY_LABEL, FLOOR_OF, SCENARIOS, createContext, scenarioNamed, type BenchContext, type Scenario } from "./lib/scenarios.js";
import { footprint, redisCommandCounts, seed, seedTenants, type RedisFootprint } from "./lib/seed.js";
import { measurePropagation, measureThroughput, propagationReport, throughputReport, type PropagationSettings } from "./lib/propagation.js";
import { BENCH_SCOPES, killLiveServersNow, startSystem, type BenchRedisMode, type SystemUnderTest } from "./lib/server.js";
import {
  DEFAULT_TENANT_CACHE_SIZE,
  benchTenants,
  issueTenantTokens,
  parseTenantCounts,
  spreadClients,
  tenantRunPlans,
  tenantScenarios,
  tenantsReport,
  type TenantRunResult,
} from "./lib/tenants.js";
import { startRapidReset, type RapidResetStats } from "./lib/rapid-reset.js";
import { killLiveProbesNow } from "./lib/verifier-probes.js";
import { requireTools, runScenarioLoad, runWrk, runningTools, type LoadOptions, type LoadResult, type RequestSpec } from "./lib/tools.js";

const USAGE = `usage: npm run bench -- [options]

  --duration <s>        measured seconds per scenario (default 10)
  --warmup <s>          warm-up seconds before each scenario (default 2)
  --warmup-lap <s>      before any measurement, run every chosen scenario this long, so the
                        first scenarios do not pay for a cold server (JIT, heap sizing) (default 1; 0 = off)
  --repeat <n>          rounds over the chosen scenarios; each row shows the median round, each ratio the
                        median of the rounds' ratios (default 1)
  --paired              each scenario's ratio is to a run of its floor made right before it in the same
                        round, not to the floor measured at the start of the round (a slow minute of a
                        shared machine then hits both sides of every ratio alike); takes about twice as long
  --rate <req/s>        open loop: h2load sends this many requests per second in total (HTTP/1.1 for the
                        wrk scenarios), so latencies are those of a server serving that rate, not of a
                        saturated one; no floors are added (default scenarios: oauth-token, introspect-jwt-*)
  --connections <n>     concurrent connections; for h2load, connections × streams ≈ n (default 50)
  --client-threads <n>  load generator threads (default 1: leaves the other cores to the server)
  --scenarios <a,b>     run only these (a trailing * matches a prefix); the floors they are compared with are added
  --json                print one JSON document on stdout (progress goes to stderr)
  --data                data-growth comparison: oauth-token and introspect-jwt before/after seeding
  --data-clients <n>    clients to seed for --data (default 100000)
  --data-revoked <n>    revoked jtis to seed for --data (default 1000000)
  --soak <s>            soak: mixed load for <s> seconds, server RSS sampled every 10 s
  --tenants <n,n,…>     tenants (issue 19), e.g. --tenants 1,1000,10000: for each count a server (and redis-server) of its
                        own with that many tenants stored in Redis and the same clients spread over them, all up at once;
                        POST /t/<tenant>/oauth2/token and /introspect rotating over every tenant, each scenario on one
                        system after the other (--repeat: rounds, ratios taken within each round); CPU per call and its
                        ratio to the fewest tenants, Redis commands per call, RSS per tenant held. A count above the
                        default tenantCacheSize (${DEFAULT_TENANT_CACHE_SIZE}) runs twice: the default, and a cache that holds them all
  --tenant-clients <n>  clients over all tenants for --tenants (default: the largest count, i.e. one per tenant there)
  --tenant-cache-size <n>  --tenants: every count with this tenantCacheSize only
  --rapid-reset <s>     HTTP/2 rapid reset: a client's gRPC Ping latency (open loop, --rate or 2000 req/s) for
                        <s> seconds alone, then <s> seconds while 120 sessions open and reset 10 streams
                        each every 50 ms (24,000 resets/s offered)
  --propagation         issue 18: how soon a revocation is refused by verifier processes (tokensmith/verifier) following
                        two instances on one Redis, then verify() calls/s and memory with growing revocation sets,
                        against Introspect; --duration is then the seconds of each throughput run (default 3)
  --revocations <n>     tokens revoked in the --propagation run (default 200; 0 = only the throughput runs)
  --revocation-rate <n> revocations per second in the --propagation run (default 20)
  --revoked-sets <a,b>  revocations in force for the throughput runs of --propagation, ascending, each seeded on top
                        of the last (default 0,100000,1000000; "" = none)
  --workers <n|auto>    passed to the server as TOKENSMITH_WORKERS (CPU and RSS are summed over its workers)
  --redis <mode>        standalone (default): one redis-server; cluster: a 3-master Redis Cluster
                        (REDIS_CLUSTER_NODES), its CPU summed over the nodes (not with --data or --tenants)
  --server-cmd <cmd>    start the server with this shell command instead of \`node bin/tokensmith.js serve\`
                        (it gets TOKENSMITH_PORT, TOKENSMITH_CONFIG, REDIS_URL, … in its environment)

scenarios:
${SCENARIOS.map((scenario) => `  ${scenario.name.padEnd(38)} ${scenario.tool.padEnd(7)} ${scenario.measures}`).join("\n")}
`;

interface Options {
  durationSeconds: number;
  warmupSeconds: number;
  warmupLapSeconds: number;
  repeat: number;
  paired: boolean;
  rate?: number;
  connections: number;
  clientThreads: number;
  scenarios?: string[];
  json: boolean;
  data: boolean;
  dataClients: number;
  dataRevoked: number;
  soakSeconds?: number;
  rapidResetSeconds?: number;
  propagation: boolean;
  revocations: number;
  revocationRate: number;
  revokedSets: number[];
  /** --tenants: the tenant counts to compare, ascending. */
  tenants?: number[];
  tenantClients?: number;
  tenantCacheSize?: number;
  /** A whole number or "auto", passed through as TOKENSMITH_WORKERS. */
  workers?: string;
  redis: BenchRedisMode;
  serverCommand?: string;
}

class UsageError extends Error {}

/** Set on SIGINT/SIGTERM: the loops stop starting new work while everything is torn down. */
let interrupted = false;
class Interrupted extends Error {}
function stopIfInterrupted(): void {
  if (interrupted) throw new Interrupted("interrupted");
}

function positiveNumber(name: string, raw: string | undefined, fallback: number, { integer = true, allowZero = false } = {}): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  const valid = Number.isFinite(value) && (allowZero ? value >= 0 : value > 0) && (!integer || Number.isInteger(value));
  if (!valid) throw new UsageError(`--${name} must be a ${integer ? "whole " : ""}number${allowZero ? "" : " above 0"}, not "${raw}"`);
  return value;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      "warmup-lap": { type: "string" },
      repeat: { type: "string" },
      paired: { type: "boolean", default: false },
      rate: { type: "string" },
      connections: { type: "string" },
      "client-threads": { type: "string" },
      scenarios: { type: "string" },
      json: { type: "boolean", default: false },
      data: { type: "boolean", default: false },
      "data-clients": { type: "string" },
      "data-revoked": { type: "string" },
      soak: { type: "string" },
      "rapid-reset": { type: "string" },
      propagation: { type: "boolean", default: false },
      revocations: { type: "string" },
      "revocation-rate": { type: "string" },
      "revoked-sets": { type: "string" },
      tenants: { type: "string" },
      "tenant-clients": { type: "string" },
      "tenant-cache-size": { type: "string" },
      workers: { type: "string" },
      redis: { type: "string" },
      "server-cmd": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const redis = values.redis ?? "standalone";
  if (redis !== "standalone" && redis !== "cluster") throw new UsageError(`--redis must be standalone or cluster, got ${JSON.stringify(redis)}`);
  const modes = [values.data, values.soak !== undefined, values["rapid-reset"] !== undefined, values.propagation, values.tenants !== undefined].filter(Boolean).length;
  if (modes > 1) throw new UsageError("--data, --soak, --rapid-reset, --propagation and --tenants are separate runs: pick one");
  if (values.paired && (values.rate !== undefined || values.data || values.soak !== undefined || values.propagation)) {
    throw new UsageError("--paired pairs scenarios with their floors: not with --rate, --data, --soak or --propagation, which compare no floors");
  }
  if (values.tenants !== undefined && (values.rate !== undefined || values.paired)) {
    throw new UsageError("--tenants compares tenant counts closed loop, in rounds of its own: not with --rate or --paired");
  }
  if ((values["tenant-clients"] !== undefined || values["tenant-cache-size"] !== undefined) && values.tenants === undefined) {
    throw new UsageError("--tenant-clients and --tenant-cache-size go with --tenants");
  }
  if (values.propagation && redis === "cluster") throw new UsageError("--propagation seeds a standalone Redis: leave out --redis cluster");
  const revokedSets = (values["revoked-sets"] ?? "0,100000,1000000")
    .split(",")
    .map((size) => size.trim())
    .filter((size) => size !== "")
    .map((size) => positiveNumber("revoked-sets", size, 0, { allowZero: true }));
  if (revokedSets.some((size, i) => i > 0 && size < (revokedSets[i - 1] as number))) throw new UsageError("--revoked-sets must be ascending: each is seeded on top of the last");
  if ((values.data || values.tenants !== undefined) && redis === "cluster") throw new UsageError("--data and --tenants seed a standalone Redis: leave out --redis cluster");
  let tenants: number[] | undefined;
  try {
    tenants = values.tenants === undefined ? undefined : parseTenantCounts(values.tenants);
  } catch (error) {
    throw new UsageError(errorText(error));
  }
  return {
    durationSeconds: positiveNumber("duration", values.duration, values.propagation ? 3 : 10),
    warmupSeconds: positiveNumber("warmup", values.warmup, 2, { allowZero: true }),
    warmupLapSeconds: positiveNumber("warmup-lap", values["warmup-lap"], 1, { allowZero: true }),
    repeat: positiveNumber("repeat", values.repeat, 1),
    paired: values.paired,
    rate: values.rate === undefined ? undefined : positiveNumber("rate", values.rate, 0),
    connections: positiveNumber("connections", values.connections, 50),
    clientThreads: positiveNumber("client-threads", values["client-threads"], 1),
    scenarios: values.scenarios?.split(",").map((name) => name.trim()).filter((name) => name !== ""),
    json: values.json,
    data: values.data,
    dataClients: positiveNumber("data-clients", values["data-clients"], 100_000, { allowZero: true }),
    dataRevoked: positiveNumber("data-revoked", values["data-revoked"], 1_000_000, { allowZero: true }),
    soakSeconds: values.soak === undefined ? undefined : positiveNumber("soak", values.soak, 0),
    rapidResetSeconds: values["rapid-reset"] === undefined ? undefined : positiveNumber("rapid-reset", values["rapid-reset"], 0),
    propagation: values.propagation,
    revocations: positiveNumber("revocations", values.revocations, 200, { allowZero: true }),
    revocationRate: positiveNumber("revocation-rate", values["revocation-rate"], 20, { integer: false }),
    revokedSets,
    tenants,
    tenantClients: values["tenant-clients"] === undefined ? undefined : positiveNumber("tenant-clients", values["tenant-clients"], 1),
    tenantCacheSize: values["tenant-cache-size"] === undefined ? undefined : positiveNumber("tenant-cache-size", values["tenant-cache-size"], 1),
    workers: values.workers === undefined || values.workers === "auto" ? values.workers : String(positiveNumber("workers", values.workers, 1)),
    redis,
    serverCommand: values["server-cmd"],
  };
}

/** What --rate measures when --scenarios does not say. */
const RATE_SCENARIOS = ["oauth-token", "introspect-jwt*"];

/** The scenarios to run, in the canonical order, with the floors the chosen ones are compared with. */
function selectScenarios(filter: string[] | undefined, log: (message: string) => void, openLoop = false): Scenario[] {
  if (openLoop && (filter === undefined || filter.length === 0)) filter = RATE_SCENARIOS;
  if (filter === undefined || filter.length === 0) return SCENARIOS;
  const chosen = new Set<string>();
  for (const pattern of filter) {
    const matches = pattern.endsWith("*")
      ? SCENARIOS.filter((scenario) => scenario.name.startsWith(pattern.slice(0, -1)))
      : SCENARIOS.filter((scenario) => scenario.name === pattern);
    if (matches.length === 0) throw new UsageError(`no scenario matches "${pattern}"; scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`);
    for (const match of matches) chosen.add(match.name);
  }
  // Open loop compares no ratios, so it needs no floors.
  const added = openLoop ? [] : addFloors(chosen);
  if (added.length > 0) log(`added the floor${added.length > 1 ? "s" : ""} the chosen scenarios are compared with: ${added.join(", ")}`);
  return SCENARIOS.filter((scenario) => chosen.has(scenario.name));
}

/** Adds to `chosen` the floor of every chosen scenario; returns the ones it added. */
function addFloors(chosen: Set<string>): string[] {
  const added: string[] = [];
  for (const name of [...chosen]) {
    const scenario = scenarioNamed(name);
    if (scenario.isFloor) continue;
    const { floor } = FLOOR_OF[scenario.family];
    if (!chosen.has(floor)) {
      chosen.add(floor);
      added.push(floor);
    }
  }
  return added;
}

// --- running one load ---------------------------------------------------------------

interface Run {
  options: Options;
  system: SystemUnderTest;
  ctx: BenchContext;
  workDir: string;
  /** Every redis-server the bench started (three for a Cluster); their CPU is summed. */
  redisPids: number[];
  log: (message: string) => void;
  /** When set, the commands Redis executed so far by command: each scenario then reports the store's work per request. */
  redisCommands?: () => Promise<Record<string, number>>;
}

/** How every load of a set of requests runs: the run's connections, threads and work directory. */
function loadOptionsOf(run: Run, requests: RequestSpec[], durationSeconds: number, tag: string, rate = run.options.rate): Omit<LoadOptions, "h1"> {
  const { options } = run;
  return { rate, baseUrl: run.system.baseUrl, requests, connections: options.connections, durationSeconds, threads: options.clientThreads, workDir: run.workDir, tag };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Verifies, warms up, measures, verifies again. Never throws for a scenario failure: it is in the result. */
async function runScenario(run: Run, scenario: Scenario, label = scenario.name): Promise<ScenarioResult> {
  const { options, system } = run;
  const result: ScenarioResult = { name: scenario.name, family: scenario.family, tool: scenario.tool, isFloor: scenario.isFloor, status: "ok", problems: [] };
  if (label !== scenario.name) result.label = label;
  const fail = (problem: string) => {
    result.status = "failed";
    result.problems.push(problem);
    run.log(red(`!!! ${label}: ${problem}`));
  };
  stopIfInterrupted();
  let prepared;
  try {
    prepared = await scenario.prepare(run.ctx);
    await prepared.verify();
  } catch (error) {
    fail(`verification before the load failed, scenario skipped: ${errorText(error)}`);
    return result;
  }
  const requests = prepared.requests;
  const loadOptions = (durationSeconds: number, tag: string) => loadOptionsOf(run, requests, durationSeconds, tag);
  try {
    if (options.warmupSeconds > 0) await runScenarioLoad(scenario.tool, loadOptions(options.warmupSeconds, `${label}-warmup`));
    const commandsBefore = await run.redisCommands?.();
    const serverCpu = new CpuMeter(system.pid);
    const redisCpu = run.redisPids.map((pid) => new CpuMeter(pid));
    const machine = new MachineMeter(system.pid);
    serverCpu.start();
    for (const meter of redisCpu) meter.start();
    machine.start();
    const load = await runScenarioLoad(scenario.tool, loadOptions(options.durationSeconds, label));
    const cpuPercent = serverCpu.stop();
    const machineUse = machine.stop();
    result.redisCpuPercent = redisCpu.length === 0 ? undefined : redisCpu.reduce((total, meter) => total + meter.stop(), 0);
    if (commandsBefore !== undefined && load.requests > 0) {
      const commandsAfter = (await run.redisCommands?.()) ?? {};
      result.redisCallsPerRequest = Object.fromEntries(
        Object.entries(commandsAfter).map(([command, calls]) => [command, (calls - (commandsBefore[command] ?? 0)) / load.requests]),
      );
    }
    result.machineIdlePercent = machineUse?.idlePercent;
    result.load = load;
    result.server = {
      cpuPercent,
      cpuMicrosPerRequest: microsPerRequest(cpuPercent, load.requestsPerSecond),
      loopPercent: machineUse?.loopPercent,
      loopMicrosPerRequest: microsPerRequest(machineUse?.loopPercent, load.requestsPerSecond),
      rssMb: treeRssMb(system.pid),
      processes: treeSize(system.pid),
    };
    for (const problem of loadProblems(load)) fail(problem);
  } catch (error) {
    stopIfInterrupted();
    fail(`the load generator failed: ${errorText(error)}`);
  }
  stopIfInterrupted();
  if (!system.alive()) {
    fail(`the server is gone:\n${system.recentOutput()}`);
    return result;
  }
  try {
    await prepared.verify();
  } catch (error) {
    fail(`verification after the load failed: ${errorText(error)}`);
  }
  if (result.load) {
    const l = result.load;
    run.log(
      `   ${formatNumber(l.requestsPerSecond)} req/s, p50 ${formatMs(l.latencyMs.p50)} ms, p99 ${formatMs(l.latencyMs.p99)} ms, ` +
        `server CPU ${formatNumber(result.server?.cpuPercent)}%${result.status === "ok" ? "" : red(" (FAILED)")}`,
    );
  }
  return result;
}

/**
 * One short lap over every scenario before anything is measured. A fresh
 * Node process is slow for its first thousands of requests (JIT tiers, heap
 * growth); without the lap, whichever scenario runs first (a floor) would
 * look slow and every ratio to it would flatter the rest. Failures here are
 * left for the measured run to report.
 */
async function warmupLap(run: Run, scenarios: Scenario[]): Promise<void> {
  const seconds = run.options.warmupLapSeconds;
  if (seconds <= 0 || scenarios.length === 0) return;
  run.log(`warm-up lap: ${seconds} s of each of ${scenarios.length} scenario(s)…`);
  for (const scenario of scenarios) {
    stopIfInterrupted();
    try {
      const prepared = await scenario.prepare(run.ctx);
      await prepared.verify();
      await runScenarioLoad(scenario.tool, {
        baseUrl: run.system.baseUrl,
        requests: prepared.requests,
        connections: run.options.connections,
        durationSeconds: seconds,
        threads: run.options.clientThreads,
        workDir: run.workDir,
        tag: `${scenario.name}-lap`,
      });
    } catch {
      // reported by the measured run
    }
  }
}

// --- modes ----------------------------------------------------------------------------

async function scenarioMode(run: Run, scenarios: Scenario[]): Promise<{ results: ScenarioResult[]; human: string; verdicts: TargetVerdict[] }> {
  await warmupLap(run, scenarios);
  // Rounds, not repeats in place: a slow moment of a shared machine then hits a scenario and its floor alike.
  const rounds: ScenarioResult[][] = [];
  for (let round = 1; round <= run.options.repeat; round++) {
    const results: ScenarioResult[] = [];
    const of = run.options.repeat > 1 ? ` [round ${round}/${run.options.repeat}]` : "";
    for (const scenario of scenarios) {
      let adjacentFloor: ScenarioResult | undefined;
      if (run.options.paired && !scenario.isFloor) {
        const floor = scenarioNamed(FLOOR_OF[scenario.family].floor);
        run.log(`▶ ${floor.name}${of}, paired with ${scenario.name}`);
        adjacentFloor = await runScenario(run, floor, `${floor.name} (paired with ${scenario.name})`);
      }
      run.log(`▶ ${scenario.name}${of}: ${run.options.durationSeconds} s after ${run.options.warmupSeconds} s warm-up (${scenario.tool})`);
      const result = await runScenario(run, scenario);
      if (adjacentFloor !== undefined) compareWithFloors([adjacentFloor, result], (compared) => FLOOR_OF[compared.family]);
      results.push(result);
    }
    // Unpaired: every scenario against the floors measured in this round.
    if (!run.options.paired) compareWithFloors(results, (result) => FLOOR_OF[result.family]);
    rounds.push(results);
  }
  const results = foldRounds(rounds);
  const floors = [...new Set(results.filter((r) => r.isFloor).map((r) => `${r.name} = ${FAMILY_LABEL[r.family]}`))];
  const repeated = run.options.repeat > 1;
  const headers = repeated ? [...SCENARIO_HEADERS, "req/s rounds"] : SCENARIO_HEADERS;
  const rows = results.map((result) => (repeated ? [...scenarioRow(result), roundsRange(result)] : scenarioRow(result)));
  const verdicts = targetVerdicts(results, run.options.rate);
  const redisTable = redisCommandsTable(results);
  const human = [
    table(headers, rows, 2),
    "",
    ...(redisTable === "" ? [] : [redisTable, ""]),
    ...(repeated ? [dim(`${run.options.repeat} rounds: each row is the round with the median req/s; rps/floor, cost/floor and loop/floor are the medians of the rounds' own ratios.`)] : []),
    dim(
      run.options.paired
        ? "rps/floor: req/s ÷ the req/s of the Ping of the same protocol run right before it (--paired; 1 = as fast as Ping)."
        : "rps/floor: req/s ÷ the req/s of the Ping of the same protocol in this run (1 = as fast as Ping).",
    ),
    dim("cost/floor: server CPU per request ÷ the floor's (how many Pings one request costs; steadier than req/s on a busy machine)."),
    dim(`floors: ${floors.join("; ")}`),
    dim("* OAuth endpoints (form bodies, no Ping of their own): compared with the Connect JSON floor for context."),
    dim("CPU: the server's process tree, % of one core over the measured window; RSS at the end of each scenario."),
    dim(
      "loop: the server's main threads (event loops) alone; ~100 % per process = the event loop limits req/s, and then rps/floor ≈ 1 ÷ loop/floor. " +
        "idle%: the part of all cores nobody used (server, Redis, load generator, the rest).",
    ),
    ...verdictLines("targets (issue #7), this run:", verdicts),
  ].join("\n");
  return { results, human, verdicts };
}

const DATA_SCENARIOS = ["oauth-token", "introspect-jwt-connect-json-h1"];

async function dataMode(run: Run): Promise<{ json: unknown; human: string; results: ScenarioResult[] }> {
  const { options } = run;
  const scenarios = DATA_SCENARIOS.map(scenarioNamed);
  const before: ScenarioResult[] = [];
  const footprintBefore: RedisFootprint = await footprint(run.system.redis.url);
  await warmupLap(run, scenarios);
  for (const scenario of scenarios) {
    run.log(`▶ ${scenario.name} (a: bench data as is)`);
    before.push(await runScenario(run, scenario, `${scenario.name} [before seeding]`));
  }
  run.log(`seeding ${formatNumber(options.dataClients)} clients and ${formatNumber(options.dataRevoked)} revoked tokens…`);
  stopIfInterrupted();
  const seeded = await seed(run.system.redis.url, { clients: options.dataClients, revoked: options.dataRevoked }, run.log);
  const footprintAfter = await footprint(run.system.redis.url);
  run.log(
    `seeded in ${formatNumber(seeded.seconds, 1)} s: Redis ${formatNumber(footprintBefore.keys)} → ${formatNumber(footprintAfter.keys)} keys, ` +
      `${formatNumber(footprintBefore.usedMemoryMb)} → ${formatNumber(footprintAfter.usedMemoryMb)} MB`,
  );
  const after: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    run.log(`▶ ${scenario.name} (b: after seeding)`);
    after.push(await runScenario(run, scenario, `${scenario.name} [after seeding]`));
  }
  const rows = scenarios.map((scenario, index) => {
    const a = before[index];
    const b = after[index];
    const ratio = (x: number | undefined, y: number | undefined) => (x !== undefined && y !== undefined && x > 0 ? y / x : undefined);
    return {
      scenario: scenario.name,
      before: a,
      after: b,
      ratios: {
        throughput: ratio(a?.load?.requestsPerSecond, b?.load?.requestsPerSecond),
        p50: ratio(a?.load?.latencyMs.p50, b?.load?.latencyMs.p50),
        p99: ratio(a?.load?.latencyMs.p99, b?.load?.latencyMs.p99),
        cpuPerRequest: ratio(a?.server?.cpuMicrosPerRequest, b?.server?.cpuMicrosPerRequest),
      },
    };
  });
  const human = [
    table(
      ["scenario", "req/s (a)", "req/s (b)", "b/a", "p50 ms (a)", "p50 ms (b)", "p99 ms (a)", "p99 ms (b)", "b/a p99", "CPU µs/req (a)", "CPU µs/req (b)", "b/a CPU"],
      rows.map((row) => [
        row.before?.status === "ok" && row.after?.status === "ok" ? row.scenario : `${row.scenario} FAILED`,
        formatNumber(row.before?.load?.requestsPerSecond),
        formatNumber(row.after?.load?.requestsPerSecond),
        formatRatio(row.ratios.throughput),
        formatMs(row.before?.load?.latencyMs.p50),
        formatMs(row.after?.load?.latencyMs.p50),
        formatMs(row.before?.load?.latencyMs.p99),
        formatMs(row.after?.load?.latencyMs.p99),
        formatRatio(row.ratios.p99),
        formatNumber(row.before?.server?.cpuMicrosPerRequest),
        formatNumber(row.after?.server?.cpuMicrosPerRequest),
        formatRatio(row.ratios.cpuPerRequest),
      ]),
    ),
    "",
    dim(
      `(a) bench data as is: Redis ${formatNumber(footprintBefore.keys)} keys, ${formatNumber(footprintBefore.usedMemoryMb)} MB. ` +
        `(b) + ${formatNumber(options.dataClients)} clients in tokensmith:admin:{clients} and ${formatNumber(options.dataRevoked)} revoked jtis: ` +
        `${formatNumber(footprintAfter.keys)} keys, ${formatNumber(footprintAfter.usedMemoryMb)} MB (seeded in ${formatNumber(seeded.seconds, 1)} s).`,
    ),
    dim("b/a near 1× = no slowdown from the data; the bench client is a config client, so client lookups never read the seeded hash."),
  ].join("\n");
  const json = {
    seeded: { clients: options.dataClients, revoked: options.dataRevoked, seconds: seeded.seconds },
    redis: { before: footprintBefore, after: footprintAfter },
    comparison: rows,
  };
  return { json, human, results: [...before, ...after] };
}

/** Issue 18: revocation propagation to verifier processes, then verify() throughput against Introspect (bench/lib/propagation.ts). */
async function propagationMode(run: Run): Promise<{ json: unknown; human: string; problems: string[] }> {
  const { options } = run;
  const settings: PropagationSettings = {
    revocations: options.revocations,
    ratePerSecond: options.revocationRate,
    revokedSets: options.revokedSets,
    seconds: options.durationSeconds,
    log: run.log,
    checkpoint: stopIfInterrupted,
  };
  const human: string[] = [];
  const problems: string[] = [];
  const json: Record<string, unknown> = {};
  if (settings.revocations > 0) {
    const propagation = await measurePropagation(run.system, settings);
    const report = propagationReport(propagation);
    human.push(bold("Revocation propagation (issue 18)"), report.human);
    problems.push(...propagation.problems);
    Object.assign(json, { propagation, targets: report.verdicts });
  }
  if (settings.revokedSets.length > 0) {
    stopIfInterrupted();
    const throughput = await measureThroughput(run.system, settings);
    human.push(...(human.length > 0 ? [""] : []), bold("Verifier throughput and memory, against Introspect"), throughputReport(throughput));
    problems.push(...throughput.problems);
    json.throughput = throughput;
  }
  return { json, human: human.join("\n"), problems };
}

const SOAK_MIX = ["issue-client-token-connect-json-h1", "issue-grant-connect-json-h1", "introspect-jwt-connect-json-h1", "introspect-grant-connect-json-h1"];
const SOAK_SAMPLE_SECONDS = 10;
const SOAK_BASELINE_SECONDS = 60;

interface SoakSample {
  atSeconds: number;
  rssMb: number;
  processes: number;
  requestsPerSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  non2xx?: number;
  errors?: number;
  cpuPercent?: number;
}

async function soakMode(run: Run, soakSeconds: number): Promise<{ json: unknown; human: string; problems: string[] }> {
  const { options, system } = run;
  const scenarios = SOAK_MIX.map(scenarioNamed);
  const problems: string[] = [];
  /** Prepares (and verifies) the mix; run again per window, so the grant under introspection is always fresh. */
  const prepareMix = async () => {
    const requests = [];
    for (const scenario of scenarios) {
      const prepared = await scenario.prepare(run.ctx);
      try {
        await prepared.verify();
      } catch (error) {
        throw new Error(`verification of ${scenario.name} failed: ${errorText(error)}`);
      }
      requests.push(...prepared.requests);
    }
    return requests;
  };
  const load = (requests: LoadOptions["requests"], durationSeconds: number, tag: string) =>
    runWrk({ baseUrl: system.baseUrl, requests, connections: options.connections, durationSeconds, threads: options.clientThreads, workDir: run.workDir, tag });

  run.log(`soak: ${soakSeconds} s of ${SOAK_MIX.join(" + ")} in rotation, ${options.connections} connections; RSS every ${SOAK_SAMPLE_SECONDS} s`);
  if (options.warmupSeconds > 0) await load(await prepareMix(), options.warmupSeconds, "soak-warmup");
  const samples: SoakSample[] = [{ atSeconds: 0, rssMb: treeRssMb(system.pid), processes: treeSize(system.pid) }];
  const started = Date.now();
  for (let at = 0; at < soakSeconds; ) {
    stopIfInterrupted();
    const window = Math.min(SOAK_SAMPLE_SECONDS, soakSeconds - at);
    const cpu = new CpuMeter(system.pid);
    let result: LoadResult | undefined;
    try {
      const requests = await prepareMix();
      cpu.start();
      result = await load(requests, window, `soak-${at}`);
    } catch (error) {
      stopIfInterrupted();
      problems.push(`at ${at} s: ${errorText(error)}`);
      run.log(red(`!!! soak at ${at} s: ${errorText(error)}`));
    }
    at += window;
    if (!system.alive()) {
      problems.push(`the server is gone at ${at} s:\n${system.recentOutput()}`);
      break;
    }
    const sample: SoakSample = { atSeconds: at, rssMb: treeRssMb(system.pid), processes: treeSize(system.pid) };
    if (result) {
      Object.assign(sample, {
        requestsPerSecond: result.requestsPerSecond,
        p50Ms: result.latencyMs.p50,
        p99Ms: result.latencyMs.p99,
        non2xx: result.non2xx,
        errors: result.errorCount,
        cpuPercent: cpu.stop(),
      });
      for (const problem of loadProblems(result)) {
        problems.push(`window ending at ${at} s: ${problem}`);
        run.log(red(`!!! soak window ending at ${at} s: ${problem}`));
      }
    }
    samples.push(sample);
    run.log(
      `   ${String(at).padStart(5)} s  RSS ${formatNumber(sample.rssMb)} MB  ${formatNumber(sample.requestsPerSecond)} req/s  p99 ${formatMs(sample.p99Ms)} ms  (${formatNumber((Date.now() - started) / 1000)} s elapsed)`,
    );
  }
  const last = samples[samples.length - 1] as SoakSample;
  // Growth is measured from the end of the first minute (JIT, caches, pools have settled) to the end.
  const afterFirstMinute = samples.find((sample) => sample.atSeconds >= SOAK_BASELINE_SECONDS && sample !== last);
  const baseline = afterFirstMinute ?? samples.find((sample) => sample.atSeconds > 0 && sample !== last) ?? (samples[0] as SoakSample);
  const minutes = (last.atSeconds - baseline.atSeconds) / 60;
  const growth = {
    fromSeconds: baseline.atSeconds,
    toSeconds: last.atSeconds,
    fromRssMb: baseline.rssMb,
    toRssMb: last.rssMb,
    deltaMb: last.rssMb - baseline.rssMb,
    mbPerMinute: minutes > 0 ? (last.rssMb - baseline.rssMb) / minutes : Number.NaN,
    baseline: afterFirstMinute ? "end of the first minute" : `first sample (the soak is shorter than ${SOAK_BASELINE_SECONDS + SOAK_SAMPLE_SECONDS} s)`,
  };
  const human = [
    table(
      ["t (s)", "RSS MB", "procs", "req/s", "p50 ms", "p99 ms", "non-2xx", "errors", "srv CPU%"],
      samples.map((sample) => [
        String(sample.atSeconds),
        formatNumber(sample.rssMb, 1),
        String(sample.processes),
        formatNumber(sample.requestsPerSecond),
        formatMs(sample.p50Ms),
        formatMs(sample.p99Ms),
        formatNumber(sample.non2xx),
        formatNumber(sample.errors),
        formatNumber(sample.cpuPercent),
      ]),
      0,
    ),
    "",
    `RSS growth from ${growth.fromSeconds} s (${growth.baseline}) to ${growth.toSeconds} s: ` +
      `${formatNumber(growth.fromRssMb, 1)} → ${formatNumber(growth.toRssMb, 1)} MB (${growth.deltaMb >= 0 ? "+" : ""}${formatNumber(growth.deltaMb, 1)} MB, ` +
      `${formatNumber(growth.mbPerMinute, 2)} MB/min)`,
    dim("t = 0 is after the warm-up, before the soak; every other row is one 10 s window of the mix (a fresh grant to introspect each window)."),
  ].join("\n");
  return { json: { mix: SOAK_MIX, samples, growth }, human, problems };
}

const RAPID_RESET_SESSIONS = 120;
/** Not 127.0.0.1, the measured client's address: 40 sessions each, under the default per-peer cap of 100. */
const RAPID_RESET_SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
const RAPID_RESET_DEFAULT_RATE = 2_000;

/**
 * A normal client's gRPC Ping latency at a fixed offered rate (h2load, open
 * loop), alone and then while 120 sessions do HTTP/2 rapid reset. The
 * attackers run in this process; the client is h2load, a process of its own.
 */
async function rapidResetMode(run: Run, seconds: number): Promise<{ json: unknown; human: string; problems: string[] }> {
  const { options, system } = run;
  const rate = options.rate ?? RAPID_RESET_DEFAULT_RATE;
  const prepared = await scenarioNamed("ping-grpc-h2").prepare(run.ctx);
  await prepared.verify();
  const [spec] = prepared.requests as [RequestSpec];
  const problems: string[] = [];
  const load = async (tag: string, durationSeconds: number) => {
    const cpu = new CpuMeter(system.pid);
    cpu.start();
    const result = await runScenarioLoad("h2load", loadOptionsOf(run, prepared.requests, durationSeconds, tag, rate));
    const cpuPercent = cpu.stop();
    for (const problem of loadProblems(result)) problems.push(`${tag}: ${problem}`);
    run.log(`   ${tag}: ${formatNumber(result.requestsPerSecond)} req/s, p50 ${formatMs(result.latencyMs.p50)} ms, p99 ${formatMs(result.latencyMs.p99)} ms`);
    return { result, cpuPercent };
  };
  run.log(`rapid reset: gRPC Ping at ${formatNumber(rate)} req/s for ${seconds} s alone, then with ${RAPID_RESET_SESSIONS} rapid-reset sessions`);
  if (options.warmupSeconds > 0) await load("rapid-reset-warmup", options.warmupSeconds);
  const alone = await load("alone", seconds);
  stopIfInterrupted();
  const attack = startRapidReset({
    baseUrl: system.baseUrl,
    sessions: RAPID_RESET_SESSIONS,
    sources: RAPID_RESET_SOURCES,
    headers: { ":method": spec.method, ":path": spec.path, ...spec.headers },
  });
  let attacked: Awaited<ReturnType<typeof load>>;
  let attackStats: RapidResetStats;
  try {
    attacked = await load("under-attack", seconds);
  } finally {
    attackStats = await attack.stop();
  }
  if (!system.alive()) problems.push(`the server is gone:\n${system.recentOutput()}`);
  else {
    try {
      await prepared.verify();
    } catch (error) {
      problems.push(`verification after the attack failed: ${errorText(error)}`);
    }
  }
  const metrics = await fetch(`${system.baseUrl}/metrics`).then((response) => response.text()).catch(() => "");
  const refusedForRapidReset = Number(/^tokensmith_http2_sessions_refused_total\{reason="rapid_reset"\} (\d+)/m.exec(metrics)?.[1] ?? Number.NaN);
  const row = (phase: string, measured: { result: LoadResult; cpuPercent: number | undefined }) => [
    phase,
    formatNumber(measured.result.requestsPerSecond),
    formatMs(measured.result.latencyMs.p50),
    formatMs(measured.result.latencyMs.p99),
    formatMs(measured.result.latencyMs.p999),
    formatNumber(measured.result.non2xx + measured.result.errorCount),
    formatNumber(measured.cpuPercent),
  ];
  const p99Ratio = attacked.result.latencyMs.p99 / alone.result.latencyMs.p99;
  const human = [
    table(["normal client (gRPC Ping, h2load)", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "failed", "srv CPU%"], [row("alone", alone), row(`with ${RAPID_RESET_SESSIONS} rapid-reset sessions`, attacked)]),
    "",
    `p99 under attack / alone: ${formatRatio(p99Ratio)}`,
    `attackers: ${formatNumber(attackStats.streamsReset)} streams opened and reset over ${formatNumber(attackStats.sessionsOpened)} sessions; ` +
      `GOAWAY ENHANCE_YOUR_CALM ${formatNumber(attackStats.goawaysEnhanceYourCalm)}, other GOAWAY ${formatNumber(attackStats.goawaysOther)}; ` +
      `server's tokensmith_http2_sessions_refused_total{reason="rapid_reset"} ${formatNumber(refusedForRapidReset)}`,
    dim(`open loop at ${formatNumber(rate)} req/s over ${options.connections} connections; attackers from ${RAPID_RESET_SOURCES.join(", ")} (the client is 127.0.0.1).`),
  ].join("\n");
  return {
    json: { rate, sessions: RAPID_RESET_SESSIONS, alone, underAttack: attacked, p99Ratio, attackers: attackStats, refusedForRapidReset },
    human,
    problems,
  };
}

/**
 * --tenants: a system per plan (a tenant count, and a tenantCacheSize unless
 * it is the default), all started and readied first (tenants stored, one
 * token per client), then measured in rounds, each scenario on every system
 * in turn, the order reversed every other round: as with bench:ab, the
 * ratios are taken within each round, seconds apart. See bench/lib/tenants.ts.
 * `started` hears of every system (for the header and the clean-up).
 */
async function tenantsMode(
  options: Options,
  workDir: string,
  log: (message: string) => void,
  started: (system: SystemUnderTest) => void,
): Promise<{ json: unknown; human: string; results: ScenarioResult[] }> {
  const counts = options.tenants as number[];
  const clientCount = options.tenantClients ?? Math.max(...counts);
  const systems: SystemUnderTest[] = [];
  const ready: Array<{ run: Run; scenarios: Scenario[]; label: string; result: TenantRunResult }> = [];
  try {
    for (const plan of tenantRunPlans(counts, options.tenantCacheSize)) {
      stopIfInterrupted();
      const cacheSize = plan.cacheSize ?? DEFAULT_TENANT_CACHE_SIZE;
      const label = `${formatNumber(plan.tenants)} tenant(s), tenantCacheSize ${formatNumber(cacheSize)}${plan.cacheSize === undefined ? " (default)" : ""}`;
      log(bold(`■ ${label}`));
      const config = plan.cacheSize === undefined ? undefined : { tenantCacheSize: plan.cacheSize };
      const redisBefore = new Set(childrenNamed(process.pid, "redis-server"));
      const system = await startSystem({ workDir, workers: options.workers, serverCommand: options.serverCommand, config, log });
      systems.push(system);
      started(system);
      const rssAtStartMb = treeRssMb(system.pid);
      const clients = spreadClients(plan.tenants, clientCount);
      const seeded = await seedTenants(system.redis.url, benchTenants(plan.tenants), clients, BENCH_SCOPES);
      log(`stored ${formatNumber(plan.tenants)} tenants and ${formatNumber(clients.length)} clients in ${formatNumber(seeded.seconds, 1)} s; issuing a token per client…`);
      const firstUse = Date.now();
      const tokens = await issueTenantTokens(system.baseUrl, clients);
      const firstUseSeconds = (Date.now() - firstUse) / 1000;
      const rssAfterFirstUseMb = treeRssMb(system.pid);
      const run: Run = {
        options,
        system,
        ctx: await createContext(system.baseUrl, system.secrets),
        workDir,
        // Its own redis-server: the others keep running beside it.
        redisPids: childrenNamed(process.pid, "redis-server").filter((pid) => !redisBefore.has(pid)),
        log,
        redisCommands: () => redisCommandCounts(system.redis.url),
      };
      const scenarios = tenantScenarios(clients, tokens);
      await warmupLap(run, scenarios);
      ready.push({
        run,
        scenarios,
        label,
        result: {
          tenants: plan.tenants,
          cacheSize,
          cacheSizeIsDefault: plan.cacheSize === undefined,
          clients: clients.length,
          seedSeconds: seeded.seconds,
          firstUseSeconds,
          rssAtStartMb,
          rssAfterFirstUseMb,
          scenarios: [],
        },
      });
    }
    // rounds[system][round][scenario]
    const rounds = ready.map((): ScenarioResult[][] => []);
    for (let round = 0; round < options.repeat; round++) {
      const of = options.repeat > 1 ? ` [round ${round + 1}/${options.repeat}]` : "";
      const order = round % 2 === 0 ? [...ready.keys()] : [...ready.keys()].reverse();
      for (const systemRounds of rounds) systemRounds.push([]);
      for (const [scenarioIndex, scenario] of (ready[0]?.scenarios ?? []).entries()) {
        for (const index of order) {
          const system = ready[index]!;
          log(`▶ ${scenario.name} [${system.label}]${of}: ${options.durationSeconds} s after ${options.warmupSeconds} s warm-up`);
          rounds[index]![round]![scenarioIndex] = await runScenario(system.run, system.scenarios[scenarioIndex]!, `${scenario.name} [${system.label}]`);
        }
      }
    }
    for (const [index, system] of ready.entries()) system.result.scenarios = foldRounds(rounds[index]!);
  } finally {
    for (const system of systems) await system.stop();
  }
  const report = tenantsReport(ready.map((system) => system.result));
  return { ...report, results: ready.flatMap((system) => system.result.scenarios) };
}

// --- main -----------------------------------------------------------------------------

async function main(): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${errorText(error)}\n\n${USAGE}`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  const opts = options;
  // Progress always goes to stderr, so stdout is only the table (or only the JSON).
  const log = (message: string) => process.stderr.write(`${message}\n`);
  const mode = opts.data
    ? "data"
    : opts.soakSeconds !== undefined
      ? "soak"
      : opts.rapidResetSeconds !== undefined
        ? "rapid-reset"
        : opts.propagation
          ? "propagation"
          : opts.tenants !== undefined
            ? "tenants"
          : "scenarios";

  let scenarios: Scenario[] = [];
  try {
    if (mode === "scenarios") scenarios = selectScenarios(opts.scenarios, log, opts.rate !== undefined);
    else if (opts.scenarios !== undefined) log(`--scenarios is ignored with --${mode}`);
    const tools =
      mode === "scenarios"
        ? opts.rate !== undefined
          ? (["h2load"] as const)
          : scenarios.map((scenario) => scenario.tool)
        : mode === "rapid-reset"
          ? (["h2load"] as const)
          : mode === "propagation"
            ? ([] as const)
            : (["wrk"] as const);
    requireTools(tools);
  } catch (error) {
    process.stderr.write(`bench: ${errorText(error)}\n`);
    return 2;
  }

  const loadAtStart = machineLoad();
  if (loadAtStart.cores > 0 && loadAtStart.loadAverage1m > loadAtStart.cores * 0.5) {
    log(red(`warning: load average ${loadAtStart.loadAverage1m} on ${loadAtStart.cores} cores: the machine is busy, absolute numbers are noise`));
  }

  const workDir = mkdtempSync(path.join(os.tmpdir(), "tokensmith-bench-"));
  let system: SystemUnderTest | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const tool of runningTools) tool.kill("SIGTERM");
      if (system) await system.stop().catch((error: unknown) => log(`stopping the server: ${errorText(error)}`));
      rmSync(workDir, { recursive: true, force: true });
    })();
    return cleaning;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130); // a second Ctrl-C: the exit hook SIGKILLs what is left
    interrupted = true;
    log(`\n${signal}: stopping the load, the server and redis…`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => {
    killLiveProbesNow();
    killLiveServersNow();
    rmSync(workDir, { recursive: true, force: true });
  });

  try {
    const startedAt = new Date().toISOString();
    const describeServer = (running: SystemUnderTest) => ({
      command: running.command,
      mode: running.mode,
      workers: opts.workers ?? null,
      pid: running.pid,
      processesAtStart: treeSize(running.pid),
      /** RSS of the process tree once ready, before any load: an idle instance. */
      rssMbAtStart: treeRssMb(running.pid),
      redis: running.redis.mode,
    });
    let server: ReturnType<typeof describeServer> | undefined;
    let ok = true;
    let output: { json: Record<string, unknown>; human: string };
    if (mode === "tenants") {
      // A system per tenant count, started and stopped by the mode.
      const started = (running: SystemUnderTest) => {
        system = running;
        server ??= describeServer(running);
      };
      const { json, human, results } = await tenantsMode(opts, workDir, log, started);
      ok = results.every((result) => result.status === "ok");
      output = { json: { mode, ...(json as object) }, human: [human, ...problemLines(results).map((line) => red(bold(line)))].join("\n") };
    } else {
      system = await startSystem({ workDir, workers: opts.workers, serverCommand: opts.serverCommand, redis: opts.redis, log });
      log(`Tokensmith on ${system.baseUrl} (pid ${system.pid}), redis (${system.redis.mode}) on ${system.redis.url}`);
      server = describeServer(system);
      const redisPids = childrenNamed(process.pid, "redis-server");
      const ctx = await createContext(system.baseUrl, system.secrets);
      const redisUrls = system.redis.urls;
      const redisCommands = async () => sumCommandCounts(await Promise.all(redisUrls.map(redisCommandCounts)));
      const run: Run = { options: opts, system, ctx, workDir, redisPids, log, redisCommands };
      if (mode === "scenarios") {
        const { results, human, verdicts } = await scenarioMode(run, scenarios);
        ok = results.every((result) => result.status === "ok");
        output = { json: { mode, scenarios: results, targets: verdicts }, human: [human, ...problemLines(results).map((line) => red(bold(line)))].join("\n") };
      } else if (mode === "data") {
        const { json, human, results } = await dataMode(run);
        ok = results.every((result) => result.status === "ok");
        output = { json: { mode, ...(json as object), scenarios: results }, human: [human, ...problemLines(results).map((line) => red(bold(line)))].join("\n") };
      } else if (mode === "rapid-reset") {
        const attack = await rapidResetMode(run, opts.rapidResetSeconds as number);
        ok = attack.problems.length === 0;
        output = { json: { mode, ...(attack.json as object), problems: attack.problems }, human: [attack.human, ...attack.problems.map((p) => red(bold(`!!! ${p}`)))].join("\n") };
      } else if (mode === "propagation") {
        const propagation = await propagationMode(run);
        ok = propagation.problems.length === 0;
        output = {
          json: { mode, ...(propagation.json as object), problems: propagation.problems },
          human: [propagation.human, ...propagation.problems.map((p) => red(bold(`!!! ${p}`)))].join("\n"),
        };
      } else {
        const soak = await soakMode(run, opts.soakSeconds as number);
        ok = soak.problems.length === 0;
        output = { json: { mode, ...(soak.json as object), problems: soak.problems }, human: [soak.human, ...soak.problems.map((p) => red(bold(`!!! ${p}`)))].join("\n") };
      }
    }
    const header = {
      startedAt,
      node: process.version,
      machine: { ...loadAtStart, loadAverage1mAtEnd: 0 },
      server,
      redis: server?.redis,
      options: {
        durationSeconds: opts.durationSeconds,
        warmupSeconds: opts.warmupSeconds,
        warmupLapSeconds: opts.warmupLapSeconds,
        repeat: opts.repeat,
        paired: opts.paired,
        rate: opts.rate ?? null,
        connections: opts.connections,
        clientThreads: opts.clientThreads,
        ...(mode === "soak" ? { soakSeconds: opts.soakSeconds } : {}),
        ...(mode === "rapid-reset" ? { rapidResetSeconds: opts.rapidResetSeconds } : {}),
        ...(mode === "data" ? { dataClients: opts.dataClients, dataRevoked: opts.dataRevoked } : {}),
        ...(mode === "propagation" ? { revocations: opts.revocations, revocationRate: opts.revocationRate, revokedSets: opts.revokedSets } : {}),
        ...(mode === "tenants"
          ? { tenants: opts.tenants, tenantClients: opts.tenantClients ?? Math.max(...(opts.tenants ?? [])), tenantCacheSize: opts.tenantCacheSize ?? null }
          : {}),
      },
    };
    header.machine.loadAverage1mAtEnd = machineLoad().loadAverage1m;
    // On failure, what the server logged (level warn and up) usually says why (e.g. the store timing out).
    const serverOutput = ok || system === undefined ? "" : system.recentOutput().split("\n").slice(-10).join("\n");
    if (serverOutput !== "") {
      output.json.serverOutputTail = serverOutput.split("\n");
      output.human += `\n\nlast lines the server printed:\n${dim(serverOutput)}`;
    }

    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ ...header, ok, ...output.json }, null, 2)}\n`);
    } else {
      const context =
        `${bold("Tokensmith bench")}  ${header.startedAt}  node ${process.version}  ${header.machine.cores} cores, load ${header.machine.loadAverage1m} → ${header.machine.loadAverage1mAtEnd}\n` +
        `server: ${server?.command} [${server?.mode}${opts.workers !== undefined ? `, TOKENSMITH_WORKERS=${opts.workers}` : ""}], ${server?.processesAtStart} process(es), RSS at start ${formatNumber(server?.rssMbAtStart)} MB, Redis ${server?.redis === "cluster" ? "Cluster (3 masters)" : "standalone"}\n` +
        (mode === "soak"
          ? `soak: ${opts.soakSeconds} s, ${opts.connections} connections, after ${opts.warmupSeconds} s warm-up, ${opts.clientThreads} load generator thread(s)\n`
          : mode === "rapid-reset"
            ? `rapid reset: ${opts.rapidResetSeconds} s alone + ${opts.rapidResetSeconds} s under attack, after ${opts.warmupSeconds} s warm-up\n`
            : mode === "propagation"
              ? `propagation: ${opts.revocations} revocations at ${formatNumber(opts.revocationRate)}/s, two instances, three verifier processes; ` +
                `throughput: ${opts.durationSeconds} s per run with ${opts.revokedSets.map((size) => formatNumber(size)).join(" / ")} revocations seeded\n`
              : (mode === "tenants" ? `tenants: ${opts.tenants?.map((count) => formatNumber(count)).join(", ")}, a server and redis-server for each, ${opts.repeat} round(s); ` : "") +
                `${opts.rate !== undefined ? `open loop at ${formatNumber(opts.rate)} req/s, ` : ""}${opts.connections} connections, ${opts.durationSeconds} s per scenario after ${opts.warmupSeconds} s warm-up ` +
            `(and a ${opts.warmupLapSeconds} s warm-up lap), ${opts.clientThreads} load generator thread(s)\n`);
      process.stdout.write(`\n${context}\n${output.human}\n`);
      if (!ok) process.stdout.write(`${red(bold(`\n${mode === "propagation" ? "PROBLEMS" : "SOME SCENARIOS FAILED"}: the numbers above include failed requests or skipped scenarios.`))}\n`);
    }
    return ok ? 0 : 1;
  } catch (error) {
    if (interrupted) return 130;
    log(red(`bench: ${errorText(error)}`));
    if (system && !system.alive()) log(`server output:\n${system.recentOutput()}`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
// Client transports keep HTTP/2 sessions open; everything that matters is stopped.
process.exit();
