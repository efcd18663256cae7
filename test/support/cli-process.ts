import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

/** The `tokensmith` command run as a child process, as an operator runs it. */

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const children = new Set<ChildProcess>();

export interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when stdout matches; rejects if the process exits first. */
  waitForStdout(pattern: RegExp): Promise<RegExpMatchArray>;
}

/** The environment of the test run, minus anything that would configure Tokensmith. */
export function cleanEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(TOKENSMITH_|REDIS_)/.test(name) && name !== "NODE_ENV") env[name] = value;
  }
  return { ...env, ...extra };
}

/** Node's own flags, and the script to run instead of the bin (a compiled cli.js). */
export interface CliOptions {
  nodeArgs?: string[];
  entry?: string;
}

/** `node bin/tokensmith.js ARGS` from the repository root, in a clean environment plus `env`. */
export function runCli(args: string[], env: Record<string, string> = {}, { nodeArgs = [], entry = "bin/tokensmith.js" }: CliOptions = {}): Run {
  const child = spawn(process.execPath, [...nodeArgs, entry, ...args], {
    cwd: repoRoot,
    env: cleanEnvironment(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  // 'exit' can come before the last output: wait for the pipes to close too.
  const finished = Promise.all([
    exited,
    new Promise((resolve) => child.stdout?.on("close", resolve)),
    new Promise((resolve) => child.stderr?.on("close", resolve)),
  ]).then(([status]) => status);
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: finished,
    waitForStdout: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = stdout.match(pattern);
          if (match === null) return;
          child.stdout?.off("data", check);
          resolve(match);
        };
        child.stdout?.on("data", check);
        check();
        void finished.then(({ code, signal }) => {
          const match = stdout.match(pattern);
          if (match !== null) resolve(match);
          else reject(new Error(`tokensmith exited (code ${code}, signal ${signal}) before printing ${pattern}\n${stdout}\n${stderr}`));
        });
      }),
  };
}

/** Runs the CLI for the duration of `body`, and kills it afterwards whatever happened. */
export async function withCli<T>(args: string[], env: Record<string, string>, body: (run: Run) => Promise<T>, options: CliOptions = {}): Promise<T> {
  const run = runCli(args, env, options);
  try {
    return await body(run);
  } finally {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL");
  }
}

/** Kills every CLI process still running (one whose test timed out never reached its own cleanup). */
export function killCliProcesses(): void {
  for (const child of children) child.kill("SIGKILL");
}

/** The cells of a table row, cut at the header's column starts: proves the columns are aligned. */
export function tableRows(output: string): Array<Record<string, string>> {
  const [header = "", ...rows] = output.trimEnd().split("\n");
  const starts = [...header.matchAll(/\S+( \S+)*/g)].map((match) => ({ name: match[0], at: match.index }));
  return rows.map((row) =>
    Object.fromEntries(
      starts.map((column, i) => {
        if (column.at > 0) expect(row[column.at - 1], `column ${column.name} starts at the same place in "${row}"`).toBe(" ");
        return [column.name, row.slice(column.at, starts[i + 1]?.at).trim()];
      }),
    ),
  );
}
