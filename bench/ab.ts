/**
 * `npm run bench:ab`: two servers side by side (A and B, each with its own
 * redis-server), the same scenarios loaded on each in alternation (A then B,
 * then B then A, ...), and per scenario the median over the rounds of B's
 * CPU per request ÷ A's. On a VM whose speed changes by half from one minute
 * to the next this is the only comparison worth quoting; see bench/README.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { summarizeAb, type AbRound, type AbSide } from "./lib/ab.js";
import { CpuMeter, MachineMeter, microsPerRequest } from "./lib/proc.js";
import { formatMs, formatNumber, table } from "./lib/report.js";
import { createContext, scenarioNamed, type BenchContext, type PreparedScenario, type Scenario } from "./lib/scenarios.js";
import { killLiveServersNow, startSystem, type SystemUnderTest } from "./lib/server.js";
import { requireTools, runScenarioLoad, runningTools } from "./lib/tools.js";

const USAGE = `usage: npm run bench:ab -- --scenarios <a,b> [--a <cmd>] [--b <cmd>] [options]

  --scenarios <a,b>     scenario names, as in npm run bench (required)
  --a <cmd>, --b <cmd>  shell commands that start each server (as --server-cmd of npm run bench);
                        left out: the default server (node bin/tokensmith.js serve)
  --duration <s>        measured seconds per scenario per side per round (default 3)
  --rounds <n>          rounds (default 6)
  --connections <n>     as in npm run bench (default 50)
  --workers <n|auto>    TOKENSMITH_WORKERS for both servers
  --rate <req/s>        open loop, as in npm run bench: compare latencies at a fixed offered rate

e.g. a commit against the working tree:
  git worktree add /tmp/base HEAD~1 && ln -s "$PWD/node_modules" /tmp/base/ && (cd /tmp/base && npx tsc -p tsconfig.build.json)
  npm run build && npm run bench:ab -- --scenarios oauth-token --a 'exec node --max-semi-space-size=64 /tmp/base/bin/tokensmith.js serve'
`;

interface Side {
  name: "A" | "B";
  system: SystemUnderTest;
  ctx: BenchContext;
  workDir: string;
  prepared: Map<string, PreparedScenario>;
}

async function measure(side: Side, scenario: Scenario, seconds: number, connections: number, rate?: number): Promise<AbSide> {
  const prepared = side.prepared.get(scenario.name);
  if (prepared === undefined) throw new Error(`${scenario.name} was not prepared on ${side.name}`);
  const options = {
    rate,
    baseUrl: side.system.baseUrl,
    requests: prepared.requests,
    connections,
    durationSeconds: seconds,
    threads: 1,
    workDir: side.workDir,
    tag: `${side.name}-${scenario.name}`,
  };
  const cpu = new CpuMeter(side.system.pid);
  const machine = new MachineMeter(side.system.pid);
  cpu.start();
  machine.start();
  const load = await runScenarioLoad(scenario.tool, options);
  const cpuPercent = cpu.stop();
  const loopPercent = machine.stop()?.loopPercent;
  if (load.non2xx > 0 || load.errorCount > 0) {
    throw new Error(`${scenario.name} on ${side.name}: ${load.non2xx} non-2xx, ${load.errorCount} errors`);
  }
  return {
    requestsPerSecond: load.requestsPerSecond,
    cpuMicrosPerRequest: microsPerRequest(cpuPercent, load.requestsPerSecond),
    loopMicrosPerRequest: microsPerRequest(loopPercent, load.requestsPerSecond),
    p99Ms: load.latencyMs.p99,
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenarios: { type: "string" },
      a: { type: "string" },
      b: { type: "string" },
      duration: { type: "string", default: "3" },
      rounds: { type: "string", default: "6" },
      connections: { type: "string", default: "50" },
      workers: { type: "string" },
      rate: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const seconds = Number(values.duration);
  const roundCount = Number(values.rounds);
  const connections = Number(values.connections);
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  const numbers = [seconds, roundCount, connections, ...(rate === undefined ? [] : [rate])];
  if (values.help || values.scenarios === undefined || !numbers.every((n) => Number.isFinite(n) && n > 0)) {
    process.stderr.write(USAGE);
    return values.help ? 0 : 2;
  }
  const scenarios = values.scenarios.split(",").map((name) => scenarioNamed(name.trim()));
  requireTools(rate === undefined ? [...new Set(scenarios.map((scenario) => scenario.tool))] : ["h2load"]);
  const log = (message: string) => process.stderr.write(`${message}\n`);

  const sides: Side[] = [];
  const cleanup = async () => {
    for (const tool of runningTools) tool.kill("SIGTERM");
    for (const side of sides) {
      await side.system.stop().catch(() => {});
      rmSync(side.workDir, { recursive: true, force: true });
    }
  };
  process.once("SIGINT", () => {
    killLiveServersNow();
    process.exit(130);
  });
  try {
    for (const [name, command] of [["A", values.a], ["B", values.b]] as const) {
      const workDir = mkdtempSync(path.join(os.tmpdir(), `tokensmith-ab-${name}-`));
      const system = await startSystem({ workDir, workers: values.workers, serverCommand: command, log });
      sides.push({ name, system, workDir, ctx: await createContext(system.baseUrl, system.secrets), prepared: new Map() });
      log(`${name}: ${system.command} (${system.mode})`);
    }
    for (const scenario of scenarios) {
      for (const side of sides) {
        const prepared = await scenario.prepare(side.ctx);
        await prepared.verify();
        side.prepared.set(scenario.name, prepared);
        await measure(side, scenario, 1, connections, rate); // warm-up
      }
    }
    const rounds = new Map<string, AbRound[]>(scenarios.map((scenario) => [scenario.name, []]));
    for (let round = 0; round < roundCount; round++) {
      for (const scenario of scenarios) {
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        const measured = new Map<string, AbSide>();
        for (const side of order) measured.set(side.name, await measure(side, scenario, seconds, connections, rate));
        const a = measured.get("A") as AbSide;
        const b = measured.get("B") as AbSide;
        rounds.get(scenario.name)?.push({ a, b });
        log(
          `round ${round + 1}/${roundCount} ${scenario.name}: B/A CPU ${(b.cpuMicrosPerRequest / a.cpuMicrosPerRequest).toFixed(2)}, ` +
            `loop ${((b.loopMicrosPerRequest ?? Number.NaN) / (a.loopMicrosPerRequest ?? Number.NaN)).toFixed(2)}, req/s ${(b.requestsPerSecond / a.requestsPerSecond).toFixed(2)}`,
        );
      }
    }
    const rows = scenarios.map((scenario) => {
      const summary = summarizeAb(rounds.get(scenario.name) ?? []);
      return [
        scenario.name,
        `${summary.cpuRatio.toFixed(3)}×`,
        summary.cpuRatios.map((ratio) => ratio.toFixed(2)).join(" "),
        Number.isFinite(summary.loopRatio) ? `${summary.loopRatio.toFixed(3)}×` : "-",
        `${formatNumber(summary.a.cpuMicrosPerRequest, 1)} → ${formatNumber(summary.b.cpuMicrosPerRequest, 1)}`,
        `${formatNumber(summary.a.requestsPerSecond)} → ${formatNumber(summary.b.requestsPerSecond)}`,
        `${summary.throughputRatio.toFixed(2)}×`,
        `${formatMs(summary.a.p99Ms)} → ${formatMs(summary.b.p99Ms)}`,
        (rounds.get(scenario.name) ?? []).map((round) => `${formatMs(round.a.p99Ms)}/${formatMs(round.b.p99Ms)}`).join(" "),
      ];
    });
    process.stdout.write(
      `${table(["scenario", "B/A CPU/req", "per round", "B/A loop/req", "CPU µs/req A → B", "req/s A → B", "B/A req/s", "p99 ms A → B", "p99 per round A/B"], rows, 1)}\n` +
        `${roundCount} rounds of ${seconds} s per side; ratios are medians of each round's own ratio; A and B columns are medians, for scale.\n`,
    );
    return 0;
  } finally {
    await cleanup();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:ab: ${error instanceof Error ? error.message : String(error)}\n`);
    killLiveServersNow();
    process.exit(1);
  },
);
