import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { CpuMeter, MachineMeter } from "../../bench/lib/proc.js";

/**
 * The bench's split of a server's CPU into its event loop (the main thread)
 * and the rest, read from /proc of a real process that spins either in its
 * main thread or in a worker thread.
 */

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

/** A node process that spins for `seconds` in its main thread, or in a worker while the main thread sleeps. */
async function spinner(where: "main" | "worker"): Promise<number> {
  const spin = "const end = Date.now() + 3000; while (Date.now() < end) {}";
  const program =
    where === "main"
      ? `console.log("ready"); ${spin}`
      : `const { Worker } = require("node:worker_threads"); new Worker(${JSON.stringify(spin)}, { eval: true }).on("online", () => console.log("ready"));`;
  const child = spawn(process.execPath, ["-e", program], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  await once(child.stdout!, "data");
  return child.pid!;
}

async function measure(pid: number): Promise<{ cpu: number; loop: number; idle: number }> {
  const cpu = new CpuMeter(pid);
  const machine = new MachineMeter(pid);
  cpu.start();
  machine.start();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const total = cpu.stop();
  const use = machine.stop();
  expect(use).toBeDefined();
  return { cpu: total, loop: use!.loopPercent, idle: use!.idlePercent };
}

describe.runIf(process.platform === "linux")("bench: event-loop CPU and machine idle time from /proc", () => {
  it("counts a process spinning in its main thread as event-loop time", async () => {
    const { cpu, loop, idle } = await measure(await spinner("main"));
    // How much of a core the spinner gets depends on what else runs (CI runs two test files at
    // once on two cores: 26 % was seen): the property is the split, not the amount.
    expect(cpu).toBeGreaterThan(10);
    expect(loop).toBeGreaterThan(cpu * 0.8);
    expect(loop).toBeLessThanOrEqual(cpu + 5);
    // One of the cores is taken: the machine cannot be more than ~half idle.
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThan(75);
  });

  it("does not count a worker thread's spinning as event-loop time", async () => {
    const { cpu, loop } = await measure(await spinner("worker"));
    expect(cpu).toBeGreaterThan(10);
    expect(loop).toBeLessThan(cpu / 4);
  });
});
