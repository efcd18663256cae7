import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanEnvironment, repoRoot } from "../support/cli-process.js";
import { eventually } from "../support/eventually.js";
import { freePort } from "../support/redis-server.js";

/**
 * `npm start` as a developer or a process supervisor runs it: a signal sent
 * to the npm process alone (what `kill <pid of npm>` or a supervisor does)
 * must reach the node server, which then shuts down and frees its port; so
 * must Ctrl-C in a terminal (SIGINT to the whole process group). The server's
 * own pid comes from its log line, so the test checks the node process is
 * gone, not only npm.
 */

// npm, then Node with the TypeScript loader: seconds on a busy two-core machine.
vi.setConfig({ testTimeout: 90_000 });

/** Generous bound for the shutdown; only a hang (the signal never reaching node) exceeds it. */
const SHUTDOWN_BOUND_MS = 30_000;

interface NpmStart {
  npm: ChildProcess;
  port: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let started: NpmStart | undefined;

afterEach(() => {
  // Whatever happened, nothing of the run outlives its test (npm leads its own process group).
  if (started?.npm.pid !== undefined) {
    try {
      process.kill(-started.npm.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  started = undefined;
});

async function npmStart(): Promise<NpmStart> {
  const port = await freePort();
  const npm = spawn("npm", ["start"], {
    cwd: repoRoot,
    env: cleanEnvironment({ TOKENSMITH_PORT: String(port) }),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  npm.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  npm.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm.on("exit", (code, signal) => resolve({ code, signal })));
  started = { npm, port, output: () => output, exited };
  return started;
}

async function ready(port: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { connection: "close" } });
  return response.status === 200;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid the server logged in its "listening" line (pino's base pid), which is node's, not npm's. */
function serverPid(output: string): number {
  const line = output.split("\n").find((text) => text.includes('"msg":"tokensmith listening"'));
  if (line === undefined) throw new Error(`no listening line yet:\n${output}`);
  return (JSON.parse(line) as { pid: number }).pid;
}

describe("npm start passes a stop signal to the node server", () => {
  it.each<[string, (npm: ChildProcess) => void]>([
    ["SIGTERM to the npm process only", (npm) => npm.kill("SIGTERM")],
    ["SIGINT to the npm process only", (npm) => npm.kill("SIGINT")],
    ["SIGINT to the process group (Ctrl-C in a terminal)", (npm) => process.kill(-npm.pid!, "SIGINT")],
  ])("%s: the server logs its shutdown, its process ends and its port closes, and npm exits", async (_name, stop) => {
    const { npm, port, output, exited } = await npmStart();
    await eventually(() => ready(port), 60_000, 200);
    const pid = serverPid(output());
    expect(pid).not.toBe(npm.pid);
    expect(isRunning(pid)).toBe(true);

    stop(npm);

    await eventually(async () => !isRunning(pid), SHUTDOWN_BOUND_MS, 100);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: "close" } })).rejects.toThrow();
    const exit = await Promise.race([exited, new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), SHUTDOWN_BOUND_MS))]);
    expect(exit).not.toBe("still running");
    expect(output()).toMatch(/"msg":"shutting down"/);
  });
});

it("start:production also replaces npm's shell with node (exec), so the same holds for it (not run here: it builds into dist/)", () => {
  const scripts = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
  for (const name of ["start", "start:production"]) {
    const lastCommand = scripts[name]!.split("&&").at(-1)!.trim();
    expect(lastCommand, name).toMatch(/^(?:NODE_ENV=production )?exec node /);
  }
});
