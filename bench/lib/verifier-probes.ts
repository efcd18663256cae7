/**
 * The bench's side of bench/lib/verifier-probe.ts: forks a probe (a process
 * of its own, as a resource server is) and talks to it over IPC.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { ProbeEvent, ProbeMessage, ProbeReplies, ProbeRequest } from "./verifier-probe.js";

const PROBE_SCRIPT = path.join(import.meta.dirname, "verifier-probe.ts");
const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const STOP_TIMEOUT_MS = 5_000;

/** Probes forked and not yet stopped, so an exit in the middle of a run still ends them. */
const liveProbes = new Set<ChildProcess>();

/** Synchronous last resort for process exit. */
export function killLiveProbesNow(): void {
  for (const child of liveProbes) child.kill("SIGKILL");
  liveProbes.clear();
}

export class VerifierProbe {
  private seq = 0;
  private readonly pending = new Map<number, { resolve(reply: unknown): void; reject(error: Error): void }>();
  private readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  /** Called for every unsolicited message (refusals, errors). */
  onEvent: (event: ProbeEvent) => void = () => undefined;

  constructor(readonly name: string) {
    // --expose-gc: the probe collects garbage before it reports its memory.
    this.child = fork(PROBE_SCRIPT, [], { cwd: REPO_ROOT, execArgv: ["--import", "tsx", "--expose-gc"], stdio: ["ignore", "ignore", "pipe", "ipc"] });
    liveProbes.add(this.child);
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr.push(...chunk.toString().split("\n").filter((line) => line !== ""));
      if (this.stderr.length > 20) this.stderr.splice(0, this.stderr.length - 20);
    });
    this.child.on("message", (message: ProbeMessage) => {
      if ("event" in message) {
        this.onEvent(message);
        return;
      }
      const waiter = this.pending.get(message.seq);
      this.pending.delete(message.seq);
      if (message.error !== undefined) waiter?.reject(new Error(`verifier probe ${this.name}: ${message.error}`));
      else waiter?.resolve(message.reply);
    });
    this.child.on("exit", (code, signal) => {
      liveProbes.delete(this.child);
      const error = new Error(`verifier probe ${this.name} exited (${code ?? signal})${this.stderr.length > 0 ? `:\n${this.stderr.join("\n")}` : ""}`);
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  request<T extends ProbeRequest>(request: T): Promise<ProbeReplies[T["type"]]> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (reply: unknown) => void, reject });
      this.child.send({ seq, request }, (error) => {
        if (error === null) return;
        this.pending.delete(seq);
        reject(error);
      });
    });
  }

  /** Asks the probe to close its verifier and exit; kills it if it does not. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.request({ type: "stop" }).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}
