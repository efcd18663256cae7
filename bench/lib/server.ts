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
/** Registered for token exchange (RFC 8693): trades bench-client's tokens in the oauth-token-exchange scenario. */
export const EXCHANGE_CLIENT_ID = "bench-exchanger";
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
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
  /** Every node's URL (a Cluster's three masters), to count the commands they executed. */
  urls: string[];
  /** How the server is pointed at it. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

async function startBenchRedis(mode: BenchRedisMode): Promise<BenchRedis> {
  if (mode === "standalone") {
    const server = await startRedis();
    return { mode, url: server.url, urls: [server.url], env: { REDIS_URL: server.url }, stop: () => server.stop() };
  }
  const cluster = await startRedisCluster();
  return {
    mode,
    url: cluster.servers[0]!.url,
    urls: cluster.servers.map((server) => server.url),
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

/** One Tokensmith process (its own process group) serving on 127.0.0.1. */
export interface ServerInstance {
  baseUrl: string;
  port: number;
  /** The server's pid (the root of its process tree). */
  pid: number;
  /** The last lines the server printed, for error messages. */
  recentOutput(): string;
  /** True while the server process is running. */
  alive(): boolean;
  stop(): Promise<void>;
}

export interface SystemUnderTest extends ServerInstance {
  redis: BenchRedis;
  secrets: BenchSecrets;
  /** The `iss` of its tokens: \`http://127.0.0.1:<port>\` (a peer is given the same). */
  issuer: string;
  /** How the server runs, for the report: "production build (NODE_ENV=production)" or "tsx (no dist/)". */
  mode: string;
  command: string;
  /**
   * Stops the server and starts it again with the same environment and port
   * (same Redis, signing keys and issuer): its caches start empty and it
   * follows the change feed from the feed's end, as at any start. `pid` changes.
   */
  restart(): Promise<void>;
  /**
   * Another Tokensmith on the same Redis with the same configuration, key-encryption
   * key and issuer, on a port of its own: two instances of one deployment. Stopped
   * by its own stop() or with the system.
   */
  startPeer(): Promise<ServerInstance>;
  /** Stops every peer, the server and Redis. */
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
    clients: [
      { id: BENCH_CLIENT_ID, secretHashes: [hashSecret(secrets.clientSecret)], scopes: BENCH_SCOPES },
      // The same secret, its own hash: a second client only for its grant types.
      {
        id: EXCHANGE_CLIENT_ID,
        secretHashes: [hashSecret(secrets.clientSecret)],
        scopes: ["bench:read", "bench:write"],
        grantTypes: ["client_credentials", TOKEN_EXCHANGE_GRANT],
      },
    ],
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
  try {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
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
      // What the server would choose itself (host and port), written out so that a peer issues the same.
      TOKENSMITH_ISSUER: issuer,
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
    const launch = (instanceEnv: NodeJS.ProcessEnv, instancePort: number) => spawnTokensmith(instanceEnv, instancePort, options.serverCommand);
    let current = await launch(env, port);
    const peers = new Set<ServerInstance>();

    let stopped = false;
    return {
      baseUrl: current.baseUrl,
      port,
      get pid() {
        return current.pid;
      },
      redis,
      secrets,
      issuer,
      mode,
      command,
      recentOutput: () => current.recentOutput(),
      alive: () => current.alive(),
      async restart() {
        await current.stop();
        current = await launch(env, port);
      },
      async startPeer() {
        const peerPort = await freePort();
        const peer = await launch({ ...env, TOKENSMITH_PORT: String(peerPort) }, peerPort);
        peers.add(peer);
        return {
          ...peer,
          async stop() {
            peers.delete(peer);
            await peer.stop();
          },
        };
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.all([...peers].map((peer) => peer.stop()));
        peers.clear();
        await current.stop();
        await redis.stop();
      },
    };
  } catch (error) {
    await redis.stop();
    throw error;
  }
}

/**
 * Starts `node bin/tokensmith.js serve` (or `serverCommand` through /bin/sh)
 * in a process group of its own and resolves once its JWKS has a key.
 */
async function spawnTokensmith(env: NodeJS.ProcessEnv, port: number, serverCommand: string | undefined): Promise<ServerInstance> {
  const child =
    serverCommand === undefined
      ? spawn(process.execPath, [...SERVER_NODE_FLAGS, "bin/tokensmith.js", "serve"], { cwd: REPO_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
      : spawn("/bin/sh", ["-c", serverCommand], { cwd: REPO_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  liveServers.add(child);
  try {
    // Keep the last lines of output; reading the pipes also keeps the server from blocking on a full pipe.
    const recent: string[] = [];
    const remember = (chunk: Buffer) => {
      recent.push(...chunk.toString().split("\n").filter((line) => line !== ""));
      if (recent.length > 50) recent.splice(0, recent.length - 50);
    };
    child.stdout?.on("data", remember);
    child.stderr?.on("data", remember);
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    const baseUrl = `http://127.0.0.1:${port}`;

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited()) {
        throw new Error(`Tokensmith exited during start-up (${child.exitCode ?? child.signalCode}):\n${recent.join("\n")}`);
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
      pid: child.pid as number,
      recentOutput: () => recent.join("\n"),
      alive: () => !exited(),
      async stop() {
        if (stopped) return;
        stopped = true;
        // The server shuts down its own workers; whatever of its group is left after that is ended here.
        if (!exited()) child.kill("SIGTERM");
        if (!(await waitForExit(child, STOP_TIMEOUT_MS))) signalGroup(child, "SIGKILL");
        await waitForExit(child, STOP_TIMEOUT_MS);
        if (groupAlive(child)) {
          signalGroup(child, "SIGTERM");
          await sleep(1_000);
          if (groupAlive(child)) signalGroup(child, "SIGKILL");
        }
        liveServers.delete(child);
      },
    };
  } catch (error) {
    signalGroup(child, "SIGKILL");
    await waitForExit(child, STOP_TIMEOUT_MS);
    liveServers.delete(child);
    throw error;
  }
}
