/**
 * The system under test: a throw-away redis-server and Tokensmith as a
 * separate child process (its own process group), so its CPU and memory can
 * be measured on their own and everything can be stopped reliably.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { freePort, startRedis, startRedisCluster } from "../../test/support/redis-server.js";

export const BENCH_CLIENT_ID = "bench-client";
export const BENCH_SCOPES = ["bench:read", "bench:write", "token:introspect", "token:delete"];
export const GRANT_SCOPE = "bench:grant";
/** Default grant lifetime (30 s): what a real backend asking for grants would have. */
export const GRANT_KEY_NAME = "bench-backend";
/** Grants that live long enough (300 s, the cap) to be introspected for a whole run. */
export const LONG_GRANT_KEY_NAME = "bench-long-grants";

export interface BenchSecrets {
  clientSecret: string;
  apiKey: string;
  longApiKey: string;
}

/** The store the bench starts for the server: one redis-server, or a 3-master Redis Cluster. */
export type BenchRedisMode = "standalone" | "cluster";

export interface BenchRedis {
  mode: BenchRedisMode;
  /** Standalone: its URL. Cluster: the URL of one node (for display). */
  url: string;
  /** How the server is pointed at it. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

async function startBenchRedis(mode: BenchRedisMode): Promise<BenchRedis> {
  if (mode === "standalone") {
    const server = await startRedis();
    return { mode, url: server.url, env: { REDIS_URL: server.url }, stop: () => server.stop() };
  }
  const cluster = await startRedisCluster();
  return {
    mode,
    url: cluster.servers[0]!.url,
    env: { REDIS_CLUSTER_NODES: cluster.nodes.map((node) => `${node.host}:${node.port}`).join(",") },
    stop: () => cluster.stop(),
  };
}

export interface ServerOptions {
  workDir: string;
  /** Default "standalone". */
  redis?: BenchRedisMode;
  workers?: string;
  /** Replaces `node bin/tokensmith.js serve`; run through /bin/sh. */
  serverCommand?: string;
  /** Settings added to the bench's config file (e.g. `tenantCacheSize`). */
  config?: Record<string, unknown>;
  log: (message: string) => void;
}

export interface SystemUnderTest {
  baseUrl: string;
  port: number;
  /** The server's pid (the root of its process tree). */
  pid: number;
  redis: BenchRedis;
  secrets: BenchSecrets;
  /** How the server runs, for the report: "production build (NODE_ENV=production)" or "tsx (no dist/)". */
  mode: string;
  command: string;
  /** The last lines the server printed, for error messages. */
  recentOutput(): string;
  /** True while the server process is running. */
  alive(): boolean;
  stop(): Promise<void>;
}

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
/** What `npm start` passes to node (package.json), so the bench measures the server as shipped. */
export const SERVER_NODE_FLAGS = ["--max-semi-space-size=64"];
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 10_000;

function benchConfig(secrets: BenchSecrets): Record<string, unknown> {
  return {
    host: "127.0.0.1",
    demoClient: false,
    clients: [{ id: BENCH_CLIENT_ID, secretHashes: [hashSecret(secrets.clientSecret)], scopes: BENCH_SCOPES }],
    apiKeys: [
      { name: GRANT_KEY_NAME, keyHash: hashSecret(secrets.apiKey), scopes: [GRANT_SCOPE] },
      { name: LONG_GRANT_KEY_NAME, keyHash: hashSecret(secrets.longApiKey), scopes: [GRANT_SCOPE], grantLifetimeSeconds: 300 },
    ],
  };
}

/** The latest modification time of any file under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Signals the server's whole process group (it was started detached, as its leader). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Servers started and not yet stopped, so an exit in the middle of a start still ends them. */
const liveServers = new Set<ChildProcess>();

/** Synchronous last resort for process exit: SIGKILL every server group this process started. */
export function killLiveServersNow(): void {
  for (const child of liveServers) signalGroup(child, "SIGKILL");
  liveServers.clear();
}

/** True while any process of the server's group is alive. */
function groupAlive(child: ChildProcess): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startSystem(options: ServerOptions): Promise<SystemUnderTest> {
  const secrets: BenchSecrets = {
    clientSecret: generateSecret("client_secret"),
    apiKey: generateSecret("api_key"),
    longApiKey: generateSecret("api_key"),
  };
  const configPath = path.join(options.workDir, "tokensmith-bench.yaml");
  writeFileSync(configPath, toYaml({ ...benchConfig(secrets), ...options.config }), { mode: 0o600 });

  const redisMode = options.redis ?? "standalone";
  options.log(redisMode === "cluster" ? "starting a 3-master Redis Cluster…" : "starting redis-server…");
  const redis = await startBenchRedis(redisMode);
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    const production = existsSync(path.join(REPO_ROOT, "dist"));
    const compiled = path.join(REPO_ROOT, "dist/src/cli.js");
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) {
      if (name.startsWith("TOKENSMITH_") || name.startsWith("REDIS_")) delete env[name];
    }
    delete env.NODE_ENV;
    Object.assign(env, {
      TOKENSMITH_PORT: String(port),
      TOKENSMITH_CONFIG: configPath,
      TOKENSMITH_LOG_LEVEL: "warn",
      // Production mode requires signing keys in Redis to be encrypted.
      TOKENSMITH_KEY_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
      ...redis.env,
    });
    if (production) env.NODE_ENV = "production";
    if (options.workers !== undefined) env.TOKENSMITH_WORKERS = options.workers;
    let mode: string;
    if (!production) mode = "TypeScript sources via tsx (no dist/; NODE_ENV unset)";
    else if (!existsSync(compiled)) mode = "NODE_ENV=production, but dist/ has no src/cli.js: bin/tokensmith.js falls back to tsx";
    else {
      mode = "production build dist/ (NODE_ENV=production)";
      const newest = newestMtime(path.join(REPO_ROOT, "src"));
      if (newest > statSync(compiled).mtimeMs) options.log(`warning: src/ has changed since dist/ was built; run \`npm run build\` to measure the current code`);
    }

    if (options.serverCommand !== undefined) mode = `custom --server-cmd; its environment has ${production ? "NODE_ENV=production (dist/ present)" : "no NODE_ENV (no dist/)"}`;
    const command = options.serverCommand ?? `${process.execPath} ${SERVER_NODE_FLAGS.join(" ")} bin/tokensmith.js serve`;
    options.log(`starting Tokensmith: ${command}  [${mode}${options.workers !== undefined ? `, TOKENSMITH_WORKERS=${options.workers}` : ""}]`);
    child =
      options.serverCommand === undefined
        ? spawn(process.execPath, [...SERVER_NODE_FLAGS, "bin/tokensmith.js", "serve"], { cwd: REPO_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
        : spawn("/bin/sh", ["-c", options.serverCommand], { cwd: REPO_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const server = child;
    liveServers.add(server);
    // Keep the last lines of output; reading the pipes also keeps the server from blocking on a full pipe.
    const recent: string[] = [];
    const remember = (chunk: Buffer) => {
      recent.push(...chunk.toString().split("\n").filter((line) => line !== ""));
      if (recent.length > 50) recent.splice(0, recent.length - 50);
    };
    server.stdout?.on("data", remember);
    server.stderr?.on("data", remember);
    const exited = () => server.exitCode !== null || server.signalCode !== null;
    const baseUrl = `http://127.0.0.1:${port}`;

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited()) {
        throw new Error(`Tokensmith exited during start-up (${server.exitCode ?? server.signalCode}):\n${recent.join("\n")}`);
      }
      try {
        const response = await fetch(`${baseUrl}/.well-known/jwks.json`, { signal: AbortSignal.timeout(2_000) });
        if (response.ok) {
          const body = (await response.json()) as { keys?: unknown[] };
          if (Array.isArray(body.keys) && body.keys.length > 0) break;
        } else {
          await response.body?.cancel();
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`Tokensmith did not serve /.well-known/jwks.json within ${START_TIMEOUT_MS / 1000} s:\n${recent.join("\n")}`);
      await sleep(100);
    }

    let stopped = false;
    return {
      baseUrl,
      port,
      pid: server.pid as number,
      redis,
      secrets,
      mode,
      command,
      recentOutput: () => recent.join("\n"),
      alive: () => !exited(),
      async stop() {
        if (stopped) return;
        stopped = true;
        // The server shuts down its own workers; whatever of its group is left after that is ended here.
        if (!exited()) server.kill("SIGTERM");
        if (!(await waitForExit(server, STOP_TIMEOUT_MS))) signalGroup(server, "SIGKILL");
        await waitForExit(server, STOP_TIMEOUT_MS);
        if (groupAlive(server)) {
          signalGroup(server, "SIGTERM");
          await sleep(1_000);
          if (groupAlive(server)) signalGroup(server, "SIGKILL");
        }
        liveServers.delete(server);
        await redis.stop();
      },
    };
  } catch (error) {
    if (child !== undefined) {
      signalGroup(child, "SIGKILL");
      await waitForExit(child, STOP_TIMEOUT_MS);
      liveServers.delete(child);
    }
    await redis.stop();
    throw error;
  }
}
