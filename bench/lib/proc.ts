/**
 * CPU and memory of a process tree, from /proc (Linux only).
 *
 * CPU: utime + stime (+ cutime + cstime, so a worker that exits and is reaped
 * mid-run still counts) of the root process and every descendant, in clock
 * ticks. /proc/<pid>/stat already sums all threads of a process, so worker
 * threads are included; forked workers (cluster, child_process) are found by
 * walking the parent links of every process in /proc.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";

let clockTicksPerSecond: number | undefined;

/** USER_HZ: the unit of the CPU times in /proc/<pid>/stat (100 on every mainstream Linux). */
export function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
  /** utime + stime alone (for a thread: its own time, without any process's children). */
  ownTicks: number;
}

/** /proc/<pid>/stat, or a thread's /proc/<pid>/task/<tid>/stat (the same format). */
function readStat(pid: number, file = `/proc/${pid}/stat`): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined; // exited meanwhile
  }
  // The command name is in parentheses and may itself contain spaces or ')'.
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const comm = text.slice(open + 1, close);
  // After ") ": field 3 (state) is index 0, so field N is index N - 3.
  const fields = text.slice(close + 2).split(" ");
  const field = (n: number) => Number(fields[n - 3] ?? 0);
  const ownTicks = field(14) + field(15);
  return { pid, ppid: field(4), comm, ownTicks, ticks: ownTicks + field(16) + field(17) };
}

function allStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== undefined) stats.push(stat);
  }
  return stats;
}

/** The root and all its live descendants. */
export function processTree(root: number): ProcStat[] {
  const stats = allStats();
  const byParent = new Map<number, ProcStat[]>();
  for (const stat of stats) {
    const siblings = byParent.get(stat.ppid) ?? [];
    siblings.push(stat);
    byParent.set(stat.ppid, siblings);
  }
  const rootStat = stats.find((stat) => stat.pid === root);
  if (rootStat === undefined) return [];
  const tree: ProcStat[] = [];
  const queue = [rootStat];
  while (queue.length > 0) {
    const next = queue.shift() as ProcStat;
    tree.push(next);
    queue.push(...(byParent.get(next.pid) ?? []));
  }
  return tree;
}

/** Direct children of `parent` whose command name starts with `commPrefix`. */
export function childrenNamed(parent: number, commPrefix: string): number[] {
  return allStats()
    .filter((stat) => stat.ppid === parent && stat.comm.startsWith(commPrefix))
    .map((stat) => stat.pid);
}

function treeTicks(root: number): number {
  return processTree(root).reduce((sum, stat) => sum + stat.ticks, 0);
}

/**
 * CPU of the main thread of every process in the tree, in clock ticks: the
 * event loops (a Node process's main thread has the process's pid as its
 * thread id). Worker threads (signing), libuv's pool and V8's GC helpers are
 * the rest of the process.
 */
function mainThreadTicks(root: number): number {
  return processTree(root).reduce((sum, stat) => sum + (readStat(stat.pid, `/proc/${stat.pid}/task/${stat.pid}/stat`)?.ownTicks ?? 0), 0);
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return { busy: 0, total: 0 };
  }
}

function vmRssKb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmRSS of the root and its descendants, in MiB (shared pages of forked workers count once per process). */
export function treeRssMb(root: number): number {
  return processTree(root).reduce((sum, stat) => sum + vmRssKb(stat.pid), 0) / 1024;
}

/** The number of processes in the tree (the server and any workers it forked). */
export function treeSize(root: number): number {
  return processTree(root).length;
}

/** Measures the CPU a process tree used between start() and stop(), as % of one core. */
export class CpuMeter {
  private startTicks = 0;
  private startTime = 0n;

  constructor(private readonly root: number) {}

  start(): void {
    this.startTicks = treeTicks(this.root);
    this.startTime = process.hrtime.bigint();
  }

  /** % of one core since start(); 200 = two cores busy. */
  stop(): number {
    const ticks = treeTicks(this.root) - this.startTicks;
    const seconds = Number(process.hrtime.bigint() - this.startTime) / 1e9;
    if (seconds <= 0) return 0;
    return (ticks / clockTicks() / seconds) * 100;
  }
}

/** A CPU share (% of one core) spread over a request rate, in microseconds per request; NaN when either is missing. */
export function microsPerRequest(percent: number | undefined, requestsPerSecond: number): number {
  return percent !== undefined && requestsPerSecond > 0 ? (percent / 100 / requestsPerSecond) * 1e6 : Number.NaN;
}

/** What the whole machine did between start() and stop(): the event loops' share, and how much of all cores sat idle. */
export class MachineMeter {
  private startLoopTicks = 0;
  private startJiffies = { busy: 0, total: 0 };
  private startTime = 0n;

  constructor(private readonly serverRoot: number) {}

  start(): void {
    this.startLoopTicks = mainThreadTicks(this.serverRoot);
    this.startJiffies = machineJiffies();
    this.startTime = process.hrtime.bigint();
  }

  /**
   * loopPercent: the server's main threads (its event loops), % of one core;
   * idlePercent: the part of all cores that nobody used, % of the machine
   * (0 = every core busy). Both undefined off Linux.
   */
  stop(): { loopPercent: number; idlePercent: number } | undefined {
    const seconds = Number(process.hrtime.bigint() - this.startTime) / 1e9;
    const jiffies = machineJiffies();
    const total = jiffies.total - this.startJiffies.total;
    if (seconds <= 0 || total <= 0) return undefined;
    const loopTicks = mainThreadTicks(this.serverRoot) - this.startLoopTicks;
    return {
      loopPercent: (loopTicks / clockTicks() / seconds) * 100,
      idlePercent: (1 - (jiffies.busy - this.startJiffies.busy) / total) * 100,
    };
  }
}

/** 1-minute load average and the number of cores, to tell whether the numbers are noise. */
export function machineLoad(): { loadAverage1m: number; cores: number } {
  return { loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100, cores: os.availableParallelism() };
}

/**
 * The host's monotonic clock in ms (`process.hrtime`, CLOCK_MONOTONIC on
 * Linux), fractional: one clock for every process on the machine, read with
 * sub-microsecond resolution and never stepped. Unlike `performance.timeOrigin
 * + performance.now()` it has no per-process origin, and unlike `Date.now()`
 * no 1 ms steps; so instants taken in different processes compare directly.
 */
export function hostClockMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
