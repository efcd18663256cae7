/**
 * Test harness: real, throw-away redis-server processes (never the shared
 * server on 6379). Each server gets a free port on 127.0.0.1 and a fresh temp
 * dir; `stop()` kills it and removes the dir, and every child is SIGKILLed
 * when the test process exits, so an aborted run leaves nothing behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const REDIS_SERVER = "/usr/bin/redis-server";
const REDIS_CLI = "/usr/bin/redis-cli";
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
/** Redis Cluster talks node-to-node on port + 10000. */
const CLUSTER_BUS_OFFSET = 10_000;

export interface RedisServerOptions {
  /** AOF with `appendfsync always`, so a write survives `kill()`. Default false. */
  appendonly?: boolean;
  /** A fixed port; default: a free one. */
  port?: number;
  /** Starts as a replica of the server on 127.0.0.1 at this port. */
  replicaOf?: number;
  /** More redis-server arguments, e.g. `["--maxmemory-policy", "allkeys-lru"]`; kept across `restart()`. */
  args?: string[];
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The server's data dir (AOF, log). Removed by `stop()`. */
  readonly dir: string;
  /** SIGTERM, wait for exit, remove the dir. Final: the server cannot be restarted afterwards. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), wait for exit. The dir is kept for `restart()`. */
  kill(): Promise<void>;
  /** Start again on the same port and dir; resolves when it answers PING. */
  restart(): Promise<void>;
  /** Sends one command on a fresh connection and resolves the reply, e.g. `["DEBUG", "SLEEP", "2"]`. */
  command(args: string[], timeoutMs?: number): Promise<RespReply>;
}

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisCluster {
  readonly nodes: RedisClusterNode[];
  readonly servers: RedisServer[];
  /** Stops every node and removes every dir. */
  stop(): Promise<void>;
}

// --- cleanup on exit ---------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

/** 'exit' handlers must be synchronous: SIGKILL and rmSync only. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveChildren) child.kill("SIGKILL");
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

// --- processes -------------------------------------------------------------

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal);
    if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
      child.kill("SIGKILL");
      await waitForExit(child, STOP_TIMEOUT_MS);
    }
  }
  liveChildren.delete(child);
}

function readLog(dir: string): string {
  try {
    return readFileSync(path.join(dir, "redis.log"), "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Spawns redis-server and resolves once it answers PING; rejects if it exits
 * first (e.g. port taken). With `sentinelConfig` (a file in `dir`) it runs as
 * a Sentinel, which takes no data options.
 */
async function spawnServer(port: number, dir: string, extraArgs: string[], sentinelConfig?: string): Promise<ChildProcess> {
  const common = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no", "--logfile", "redis.log"];
  const args =
    sentinelConfig === undefined
      ? [
          ...common,
          "--save", "",
          // DEBUG SLEEP simulates a stalled server; Redis 7 refuses DEBUG unless enabled.
          "--enable-debug-command", "local",
          ...extraArgs,
        ]
      : [sentinelConfig, "--sentinel", ...common, ...extraArgs];
  // The log goes to a file: piped stdout that nobody reads would eventually block the server.
  const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: "ignore" });
  installExitHook();
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited during start-up:\n${readLog(dir)}`);
    }
    try {
      const reply = await sendCommand(port, ["PING"], 500);
      if (reply === "PONG") return child;
    } catch {
      // Not listening yet, or still loading the AOF (-LOADING): poll again.
    }
    await sleep(20);
  }
  await terminate(child, "SIGKILL");
  throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${readLog(dir)}`);
}

// --- ports -----------------------------------------------------------------

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS reports free right now (bind to 0, close). Racy by nature; callers retry on EADDRINUSE. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("could not determine a free port"));
      });
    });
  });
}

/**
 * A free port whose cluster bus port (port + 10000) is free as well. OS-chosen
 * ports are usually in the ephemeral range (32768+), where port + 10000 often
 * exceeds 65535, so fall back to random ports below that range.
 */
async function freeClusterPort(exclude: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = attempt === 0 ? await freePort() : 10_000 + Math.floor(Math.random() * 20_000);
    const bus = port + CLUSTER_BUS_OFFSET;
    if (bus > 65_535 || exclude.has(port) || exclude.has(bus)) continue;
    if ((await canBind(port)) && (await canBind(bus))) return port;
  }
  throw new Error("no free port pair (port, port + 10000) found for a cluster node");
}

// --- a minimal RESP client ---------------------------------------------------

/** The reply types this harness needs; `Error` replies reject instead. */
export type RespReply = string | number | null | RespReply[];

function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n` + args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("");
}

/** Parses one RESP2 reply from `buf` at `offset`; returns undefined when more bytes are needed. */
function parseReply(buf: Buffer, offset: number): { value: RespReply | Error; next: number } | undefined {
  const lineEnd = buf.indexOf("\r\n", offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString("utf8", offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case "+":
      return { value: line, next: afterLine };
    case "-":
      return { value: new Error(line), next: afterLine };
    case ":":
      return { value: Number(line), next: afterLine };
    case "$": {
      const length = Number(line);
      if (length === -1) return { value: null, next: afterLine };
      if (buf.length < afterLine + length + 2) return undefined;
      return { value: buf.toString("utf8", afterLine, afterLine + length), next: afterLine + length + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count === -1) return { value: null, next: afterLine };
      const items: RespReply[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, next);
        if (item === undefined) return undefined;
        if (item.value instanceof Error) return item;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      return { value: new Error(`unexpected RESP type ${JSON.stringify(type)}`), next: afterLine };
  }
}

/**
 * Sends one command to 127.0.0.1:port on a fresh connection and resolves its
 * reply; a Redis error reply rejects. Independent of ioredis on purpose: the
 * harness must work while the code under test is broken.
 */
export function sendCommand(port: number, args: string[], timeoutMs = 5_000): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let buffer = Buffer.alloc(0);
    const finish = (error: Error | null, value?: RespReply): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`${args[0]} on port ${port} timed out`)));
    socket.once("error", (error) => finish(error));
    socket.once("connect", () => socket.write(encodeCommand(args)));
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseReply(buffer, 0);
      if (parsed === undefined) return;
      if (parsed.value instanceof Error) finish(parsed.value);
      else finish(null, parsed.value);
    });
  });
}

// --- public API --------------------------------------------------------------

async function startOnPort(
  port: number | undefined,
  dir: string,
  extraArgs: string[],
  sentinelConfig?: string,
): Promise<{ port: number; child: ChildProcess }> {
  if (port !== undefined) return { port, child: await spawnServer(port, dir, extraArgs, sentinelConfig) };
  // A free port can be taken between probing and binding (tests run in parallel): retry a few times.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const candidate = await freePort();
    try {
      return { port: candidate, child: await spawnServer(candidate, dir, extraArgs, sentinelConfig) };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

function createHandle(port: number, dir: string, extraArgs: string[], first: ChildProcess, sentinelConfig?: string): RedisServer {
  let child: ChildProcess | null = first;
  let stopped = false;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async stop() {
      stopped = true;
      if (child) await terminate(child, "SIGTERM");
      child = null;
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
    async kill() {
      if (child) await terminate(child, "SIGKILL");
      child = null;
    },
    async restart() {
      if (stopped) throw new Error("this redis-server was stopped; start a new one");
      if (child) await terminate(child, "SIGKILL");
      child = await spawnServer(port, dir, extraArgs, sentinelConfig);
    },
    command(args, timeoutMs) {
      return sendCommand(port, args, timeoutMs);
    },
  };
}

/** Starts a standalone redis-server in a fresh temp dir; resolves once it answers PING. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tokensmith-redis-"));
  installExitHook();
  liveDirs.add(dir);
  const extraArgs = ["--appendonly", options.appendonly ? "yes" : "no", "--appendfsync", "always"];
  if (options.replicaOf !== undefined) extraArgs.push("--replicaof", "127.0.0.1", String(options.replicaOf));
  extraArgs.push(...(options.args ?? []));
  try {
    const { port, child } = await startOnPort(options.port, dir, extraArgs);
    return createHandle(port, dir, extraArgs, child);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw error;
  }
}

/**
 * Starts a Redis Sentinel that monitors the master on 127.0.0.1:`masterPort`
 * as `name`, with quorum 1 and short timeouts, so that killing the master
 * promotes a replica within a few seconds. Resolves once it answers PING.
 */
export async function startRedisSentinel(masterPort: number, name = "tokensmith"): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tokensmith-redis-sentinel-"));
  installExitHook();
  liveDirs.add(dir);
  // Sentinel rewrites its config file as it learns the topology: it must be writable and its own.
  const config = path.join(dir, "sentinel.conf");
  writeFileSync(
    config,
    [
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 500`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      "",
    ].join("\n"),
  );
  try {
    const { port, child } = await startOnPort(undefined, dir, [], config);
    return createHandle(port, dir, [], child, config);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw error;
  }
}

function clusterInfoField(info: RespReply, field: string): string | undefined {
  if (typeof info !== "string") return undefined;
  const line = info.split("\r\n").find((l) => l.startsWith(`${field}:`));
  return line?.slice(field.length + 1);
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(REDIS_CLI, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`redis-cli ${args.join(" ")} exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Starts a 3-master Redis Cluster (no replicas) on free ports and resolves
 * once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    const taken = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), "tokensmith-redis-cluster-"));
      installExitHook();
      liveDirs.add(dir);
      const extraArgs = [
        "--appendonly", "no",
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "5000",
      ];
      let started: { port: number; child: ChildProcess } | undefined;
      let lastError: unknown;
      for (let attempt = 0; attempt < 5 && started === undefined; attempt++) {
        const port = await freeClusterPort(taken);
        try {
          started = { port, child: await spawnServer(port, dir, extraArgs) };
        } catch (error) {
          lastError = error;
        }
      }
      if (started === undefined) {
        rmSync(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
        throw lastError;
      }
      taken.add(started.port).add(started.port + CLUSTER_BUS_OFFSET);
      servers.push(createHandle(started.port, dir, extraArgs, started.child));
    }

    await runRedisCli(
      ["--cluster", "create", ...servers.map((s) => `127.0.0.1:${s.port}`), "--cluster-replicas", "0", "--cluster-yes"],
      30_000,
    );

    const deadline = Date.now() + 30_000;
    for (const server of servers) {
      for (;;) {
        const info = await server.command(["CLUSTER", "INFO"]).catch(() => null);
        if (clusterInfoField(info, "cluster_state") === "ok") break;
        if (Date.now() > deadline) throw new Error(`cluster node ${server.port} never reached cluster_state:ok`);
        await sleep(50);
      }
    }

    return {
      nodes: servers.map((s) => ({ host: "127.0.0.1", port: s.port })),
      servers,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
