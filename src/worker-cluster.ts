import cluster, { type Worker } from "node:cluster";

/**
 * Runs `count` worker processes (node:cluster) that each serve the same port;
 * the primary only supervises: it restarts a worker that dies unexpectedly
 * (at most `maxRestartsPerMinute`), and on SIGTERM/SIGINT asks every worker to
 * shut down gracefully and exits when they have.
 */
export function superviseWorkers(options: {
  count: number;
  env: Record<string, string>;
  log: (message: string) => void;
  maxRestartsPerMinute?: number;
}): void {
  const maxRestarts = options.maxRestartsPerMinute ?? 10;
  const restarts: number[] = [];
  let stopping = false;

  const fork = (): Worker => cluster.fork({ ...options.env, TOKENSMITH_WORKER: "1" });
  for (let i = 0; i < options.count; i += 1) fork();

  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    const now = Date.now();
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length >= maxRestarts) {
      options.log(`worker ${worker.process.pid} exited (${signal ?? code}); too many restarts in a minute, stopping`);
      stop(1);
      return;
    }
    restarts.push(now);
    options.log(`worker ${worker.process.pid} exited (${signal ?? code}); starting a new one`);
    fork();
  });

  const stop = (exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker.process.kill("SIGTERM");
    setTimeout(() => process.exit(exitCode), 15_000).unref();
  };
  process.on("SIGTERM", () => stop());
  process.on("SIGINT", () => stop());
}

export const isWorkerProcess = () => cluster.isWorker;
