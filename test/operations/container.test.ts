import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { SERVER_NODE_FLAGS } from "../../bench/lib/server.js";
import { loadConfig } from "../../src/config.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { ADMIN_SCOPE } from "../../src/domain/scopes.js";
import { KeyEncryption } from "../../src/keys/key-encryption.js";
import { TARGET_NODE_MAJOR } from "../../src/runtime-support.js";
import { storeKeys } from "../../src/store/store.js";
import { killCliProcesses, repoRoot, runCli, withCli } from "../support/cli-process.js";
import { eventually } from "../support/eventually.js";
import { postForm } from "../support/oauth.js";
import { freePort, startRedis, type RedisServer } from "../support/redis-server.js";
import { basic } from "../support/tokensmith.js";

/**
 * The Dockerfile and docker-compose.yml, without a Docker engine: both files
 * are parsed and every property an operator relies on is checked, and then
 * what the image would run (its ENTRYPOINT and CMD, its environment, the
 * env file made from .env.example) runs here against a redis-server started
 * with the compose file's Redis arguments, probed by the image's own
 * HEALTHCHECK command.
 */

// Starts Redis and Node with the TypeScript loader, then the CLI: seconds each on a busy two-core machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** A Dockerfile's stages: instructions one a line, `\` continuing a line, comment lines dropped. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && pending === "")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(`${pending}${line}`.trim());
    pending = "";
  }
  const stages: Stage[] = [];
  for (const line of logical.filter((text) => text !== "")) {
    const match = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]! };
    if (instruction.keyword === "FROM") {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args)!;
      stages.push({ image: from[1]!, name: from[2], instructions: [] });
    } else {
      expect(stages.length, `${instruction.keyword} before the first FROM`).toBeGreaterThan(0);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** The exec form (a JSON array) of CMD, ENTRYPOINT or HEALTHCHECK CMD; undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith("[")) return undefined;
  return JSON.parse(args) as string[];
}

function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

/** The single (last, as Docker takes it) instruction of that kind in the stage. */
function lastOf(stage: Stage, keyword: string): Instruction {
  const found = instructionsOf(stage, keyword).at(-1);
  expect(found, `${keyword} in the final stage`).toBeDefined();
  return found!;
}

/** ENV NAME=value NAME=value … (the forms this Dockerfile uses: no quotes, no spaces in values). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of instructionsOf(stage, "ENV")) {
    for (const pair of args.split(/\s+/)) {
      const equals = pair.indexOf("=");
      expect(equals, `ENV ${args}: NAME=value pairs`).toBeGreaterThan(0);
      env[pair.slice(0, equals)] = pair.slice(equals + 1);
    }
  }
  return env;
}

/** HEALTHCHECK [--option=value …] CMD ["…"] */
function healthcheckOf(stage: Stage): { options: Record<string, string>; command: string[] | undefined } {
  const { args } = lastOf(stage, "HEALTHCHECK");
  const match = /^((?:--\S+\s+)*)CMD\s+(.*)$/.exec(args);
  expect(match, `HEALTHCHECK ${args}`).not.toBeNull();
  const options = Object.fromEntries(match![1]!.trim().split(/\s+/).filter(Boolean).map((option) => option.slice(2).split("=") as [string, string]));
  return { options, command: execForm(match![2]!) };
}

/** Compose durations: 30s, 1m30s, 500ms. */
function seconds(duration: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  expect(parts.map((part) => part[0]).join(""), `duration ${duration}`).toBe(duration);
  return parts.reduce((total, part) => total + Number(part[1]) * units[part[2]!]!, 0);
}

/** The node flags between `node` and `bin/tokensmith.js` in a command line. */
function nodeFlags(words: string[]): string[] {
  const node = words.indexOf("node");
  const script = words.indexOf("bin/tokensmith.js");
  expect(node).toBeGreaterThanOrEqual(0);
  expect(script).toBeGreaterThan(node);
  return words.slice(node + 1, script);
}

/** The environment variable names loadConfig reads (recorded from its reads of a Proxy). */
function namesConfigReads(): Set<string> {
  const read = new Set<string>();
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(target, name) {
      if (typeof name === "string") read.add(name);
      return undefined;
    },
  });
  loadConfig(env);
  return read;
}

function git(args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync("git", args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
  } catch (error) {
    return { code: (error as { status: number }).status, out: "" };
  }
}

const read = (name: string) => readFileSync(join(repoRoot, name), "utf8");
const stages = parseDockerfile(read("Dockerfile"));
const runtime = stages.at(-1)!;
const imageEnv = envOf(runtime);
const entrypoint = execForm(lastOf(runtime, "ENTRYPOINT").args);
const cmd = execForm(lastOf(runtime, "CMD").args);
const healthcheck = healthcheckOf(runtime);

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  volumes?: Array<string | { type?: string; source?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  restart?: string;
  env_file?: string | Array<string | { path: string }>;
  environment?: Record<string, string> | string[];
  ports?: string[];
  stop_grace_period?: string;
}
const compose = parseYaml(read("docker-compose.yml")) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
const redisService = compose.services.redis!;
const tokensmithService = compose.services.tokensmith!;
const composeEnv = tokensmithService.environment as Record<string, string>;
const envExampleText = read(".env.example");
const envExample = parseEnv(envExampleText) as Record<string, string>;
/** .env.example with its commented-out settings (`# NAME=value` lines) taken in too. */
const envExampleSuggested = parseEnv(envExampleText.replace(/^# ?(?=[A-Z][A-Z0-9_]*=)/gm, "")) as Record<string, string>;

/** What the operator fills in .env: a key-encryption key (`openssl rand -hex 32`) and the hash of the admin's secret. */
function filledIn(secret = generateSecret("client_secret")) {
  return { TOKENSMITH_KEY_ENCRYPTION_KEY: randomBytes(32).toString("hex"), TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: hashSecret(secret) };
}

describe("the Dockerfile", () => {
  it("is multi-stage: a named build stage runs npm ci and npm run build, the runtime stage copies its dist/", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0]!;
    expect(build.name).toBeDefined();
    const buildRuns = instructionsOf(build, "RUN").map((run) => run.args);
    expect(buildRuns).toContain("npm ci");
    expect(buildRuns).toContain("npm run build");
    expect(instructionsOf(runtime, "COPY").map((copy) => copy.args)).toContain(`--from=${build.name} /app/dist ./dist`);
  });

  it("the runtime stage is a slim official Node image of the LTS major the project targets (TARGET_NODE_MAJOR), pinned to it", () => {
    const image = /^node:(\d+)-[a-z]+-slim$/.exec(runtime.image);
    expect(image, runtime.image).not.toBeNull();
    const major = Number(image![1]);
    expect(major).toBe(TARGET_NODE_MAJOR);
    expect(major).toBeGreaterThanOrEqual(24);
    expect(major % 2, "even majors are the LTS lines").toBe(0);
    expect(stages[0]!.image, "the build runs the same Node").toBe(runtime.image);
  });

  it("the runtime stage installs the production dependencies only (npm ci --omit=dev)", () => {
    const runs = instructionsOf(runtime, "RUN").map((run) => run.args);
    expect(runs.some((run) => /(^|&&\s*)npm ci --omit=dev(\s|$)/.test(run))).toBe(true);
    expect(runs.some((run) => /npm (ci|install)(?![^&]*--omit=dev)/.test(run)), "no other install in the runtime stage").toBe(false);
  });

  it("the final stage runs as a non-root user", () => {
    const user = lastOf(runtime, "USER").args.split(":")[0]!;
    expect(["", "root", "0"]).not.toContain(user);
    const index = runtime.instructions.lastIndexOf(lastOf(runtime, "USER"));
    expect(runtime.instructions.slice(index + 1).map((instruction) => instruction.keyword), "no RUN as another user after USER").not.toContain("RUN");
  });

  it("runs node itself in exec form (no sh -c, no npm between docker stop's SIGTERM and the server): ENTRYPOINT node bin/tokensmith.js, CMD serve", () => {
    expect(entrypoint, "ENTRYPOINT in exec form").toBeDefined();
    expect(cmd, "CMD in exec form").toBeDefined();
    expect(entrypoint![0]).toBe("node");
    expect(entrypoint!.at(-1)).toBe("bin/tokensmith.js");
    expect(cmd).toEqual(["serve"]);
    expect([...entrypoint!, ...cmd!].join(" ")).not.toMatch(/\b(sh|bash|npm)\b/);
  });

  it("passes node the production flags npm start passes (package.json), which the bench also uses", () => {
    const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
    const flags = nodeFlags(entrypoint!);
    expect(flags).toEqual(nodeFlags(scripts["start:production"]!.split(/\s+/)));
    expect(flags).toEqual(nodeFlags(scripts.start!.split(/\s+/)));
    expect(flags).toEqual(SERVER_NODE_FLAGS);
  });

  it("sets NODE_ENV=production, listens on all interfaces and exposes the port it listens on", () => {
    expect(imageEnv.NODE_ENV).toBe("production");
    expect(imageEnv.TOKENSMITH_HOST).toBe("0.0.0.0");
    expect(lastOf(runtime, "EXPOSE").args).toBe(imageEnv.TOKENSMITH_PORT);
  });

  it("has a HEALTHCHECK in exec form, run by node (slim images have no curl), asking /readyz on the port", () => {
    expect(healthcheck.command, "exec form").toBeDefined();
    expect(healthcheck.command![0]).toBe("node");
    expect(healthcheck.command!.join(" ")).toContain("/readyz");
    expect(healthcheck.command!.join(" ")).toContain("process.env.TOKENSMITH_PORT");
    for (const option of ["interval", "timeout", "start-period", "retries"]) expect(healthcheck.options, option).toHaveProperty(option);
  });

  it(".dockerignore keeps secrets, the git history and local builds out of the build context", () => {
    const ignored = read(".dockerignore").split("\n").map((line) => line.trim());
    for (const entry of [".env", ".git", "node_modules", "dist"]) expect(ignored, entry).toContain(entry);
  });
});

describe("docker-compose.yml", () => {
  it("builds Tokensmith from the Dockerfile and mounts no source directory", () => {
    const context = typeof tokensmithService.build === "string" ? tokensmithService.build : tokensmithService.build?.context;
    expect(context).toBe(".");
    expect(typeof tokensmithService.build === "object" ? tokensmithService.build.dockerfile : undefined).toBeUndefined();
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === "string" ? volume.split(":")[0]! : volume.source ?? "";
        expect(typeof volume === "object" ? volume.type : undefined, JSON.stringify(volume)).not.toBe("bind");
        expect(source, "a named volume, not a host path").toMatch(/^[a-z0-9][a-z0-9_.-]*$/i);
        expect(compose.volumes ?? {}, `volume ${source} declared`).toHaveProperty(source);
      }
    }
  });

  it("runs Redis from a pinned image with AOF fsynced on every write and noeviction", () => {
    expect(redisService.image).toMatch(/^redis:\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$/);
    const command = redisService.command as string[];
    expect(command[0]).toBe("redis-server");
    const option = (name: string) => command[command.lastIndexOf(name) + 1];
    expect(option("--appendonly")).toBe("yes");
    expect(option("--appendfsync")).toBe("always");
    expect(option("--maxmemory-policy")).toBe("noeviction");
    expect(redisService.volumes).toContain("redis-data:/data");
  });

  it("health checks: redis-cli ping for Redis; Tokensmith keeps its image's /readyz HEALTHCHECK", () => {
    const test = redisService.healthcheck?.test;
    expect([test].flat().join(" ")).toMatch(/redis-cli ping/);
    expect(tokensmithService.healthcheck?.disable).not.toBe(true);
    expect(tokensmithService.healthcheck?.test, "no override of the image's HEALTHCHECK").toBeUndefined();
  });

  it("Tokensmith starts once Redis is healthy; both restart unless stopped", () => {
    expect(tokensmithService.depends_on).toEqual({ redis: { condition: "service_healthy" } });
    for (const service of [redisService, tokensmithService]) expect(["always", "unless-stopped"]).toContain(service.restart);
  });

  it("stop_grace_period leaves room for the drain: longer than shutdownDelaySeconds + shutdownGraceSeconds as configured", () => {
    const config = loadConfig({ ...imageEnv, ...envExample, ...composeEnv, ...filledIn() });
    expect(seconds(tokensmithService.stop_grace_period!)).toBeGreaterThan(config.shutdownDelaySeconds + config.shutdownGraceSeconds);
  });

  it(".env.example suggests, commented out, the shutdown delay and grace: read as set, and still within stop_grace_period", () => {
    const suggested = Object.keys(envExampleSuggested).filter((name) => !(name in envExample));
    expect(suggested).toEqual(expect.arrayContaining(["TOKENSMITH_SHUTDOWN_DELAY_SECONDS", "TOKENSMITH_SHUTDOWN_GRACE_SECONDS"]));
    const reads = namesConfigReads();
    expect(suggested.filter((name) => !reads.has(name))).toEqual([]);
    const config = loadConfig({ ...imageEnv, ...envExampleSuggested, ...composeEnv, ...filledIn() });
    expect(config.shutdownDelaySeconds).toBe(Number(envExampleSuggested.TOKENSMITH_SHUTDOWN_DELAY_SECONDS));
    expect(config.shutdownGraceSeconds).toBe(Number(envExampleSuggested.TOKENSMITH_SHUTDOWN_GRACE_SECONDS));
    expect(seconds(tokensmithService.stop_grace_period!)).toBeGreaterThan(config.shutdownDelaySeconds + config.shutdownGraceSeconds);
  });

  it("publishes the image's port", () => {
    expect(tokensmithService.ports).toContain(`${imageEnv.TOKENSMITH_PORT}:${imageEnv.TOKENSMITH_PORT}`);
  });

  it("reads the env file .env, which git ignores and does not hold; .env.example is committed instead", () => {
    expect([tokensmithService.env_file].flat().map((file) => (typeof file === "string" ? file : file?.path))).toEqual([".env"]);
    expect(git(["check-ignore", "-q", ".env"]).code, ".env is ignored").toBe(0);
    expect(git(["ls-files", ".env"]).out, ".env is not committed").toBe("");
    expect(git(["check-ignore", "-q", ".env.example"]).code, ".env.example is not ignored").toBe(1);
  });

  it(".env.example declares the key-encryption key and the admin client, with no secret filled in", () => {
    for (const name of ["TOKENSMITH_KEY_ENCRYPTION_KEY", "TOKENSMITH_ADMIN_CLIENT_ID", "TOKENSMITH_ADMIN_CLIENT_SECRET_HASH"]) expect(envExample, name).toHaveProperty(name);
    expect(envExample.TOKENSMITH_KEY_ENCRYPTION_KEY).toBe("");
    expect(envExample.TOKENSMITH_ADMIN_CLIENT_SECRET_HASH).toBe("");
    expect(envExampleText).not.toMatch(/tks_(cs|ak)_/);
  });

  it("every variable the image, the compose file and .env.example set is one Tokensmith's configuration reads", () => {
    const reads = namesConfigReads();
    const names = [...Object.keys(imageEnv), ...Object.keys(composeEnv), ...Object.keys(envExample)];
    expect(names.filter((name) => !reads.has(name))).toEqual([]);
    expect(composeEnv.REDIS_URL).toBe("redis://redis:6379");
  });

  it("the environment they make, with a key and a hash filled in, configures production, the Redis store, the KEK and the admin client", () => {
    const filled = filledIn();
    const config = loadConfig({ ...imageEnv, ...envExample, ...composeEnv, ...filled });
    const kek = filled.TOKENSMITH_KEY_ENCRYPTION_KEY;
    const hash = filled.TOKENSMITH_ADMIN_CLIENT_SECRET_HASH;
    expect(config.production).toBe(true);
    expect(config.store).toMatchObject({ type: "redis", url: "redis://redis:6379" });
    expect(config.keyEncryptionKey).toBe(kek);
    expect(config.issuer).toBe(envExample.TOKENSMITH_ISSUER);
    expect(config.clients).toEqual([expect.objectContaining({ id: envExample.TOKENSMITH_ADMIN_CLIENT_ID, secretHashes: [hash], scopes: [ADMIN_SCOPE] })]);
  });
});

describe("what the image runs, run here: its ENTRYPOINT and CMD with its environment and the env file, on Redis started with the compose file's arguments", () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis({ args: (redisService.command as string[]).slice(1) });
  });

  afterAll(async () => {
    killCliProcesses();
    await redis?.stop();
  });

  /** The image's HEALTHCHECK command, run as Docker runs it, with the container's TOKENSMITH_PORT. */
  function runHealthcheck(port: number): Promise<number | null> {
    const [program, ...args] = healthcheck.command!;
    expect(program).toBe("node");
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, TOKENSMITH_PORT: String(port) }, stdio: "ignore" });
    return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }

  it("Redis takes the arguments: appendfsync always, noeviction, AOF on", async () => {
    expect(await redis.command(["CONFIG", "GET", "appendfsync"])).toEqual(["appendfsync", "always"]);
    expect(await redis.command(["CONFIG", "GET", "maxmemory-policy"])).toEqual(["maxmemory-policy", "noeviction"]);
    expect(await redis.command(["CONFIG", "GET", "appendonly"])).toEqual(["appendonly", "yes"]);
  });

  it("serves in production with the KEK and the admin client; the HEALTHCHECK passes while it serves and fails once SIGTERM stopped it", async () => {
    const port = await freePort();
    const adminSecret = generateSecret("client_secret");
    const env = {
      ...imageEnv,
      ...envExample,
      ...composeEnv,
      ...filledIn(adminSecret),
      REDIS_URL: redis.url,
      TOKENSMITH_PORT: String(port),
      // Loopback only here: the container's 0.0.0.0 would expose the test server.
      TOKENSMITH_HOST: "127.0.0.1",
    };
    const [program, ...flags] = entrypoint!.slice(0, -1);
    expect(program).toBe("node");
    await withCli(
      cmd!,
      env,
      async (run) => {
        await eventually(async () => (await runHealthcheck(port)) === 0, 60_000, 250);
        expect(run.stdout(), "no demo client: a client is configured, and production").not.toMatch(/demo client/);

        const response = await postForm(`http://127.0.0.1:${port}/oauth2/token`, { grant_type: "client_credentials", scope: ADMIN_SCOPE }, { ...basic(envExample.TOKENSMITH_ADMIN_CLIENT_ID!, adminSecret), connection: "close" });
        expect(response.status).toBe(200);
        const list = runCli(["client", "list"], {
          TOKENSMITH_URL: `http://127.0.0.1:${port}`,
          TOKENSMITH_CLIENT_ID: envExample.TOKENSMITH_ADMIN_CLIENT_ID!,
          TOKENSMITH_CLIENT_SECRET: adminSecret,
        });
        expect((await list.exited).code, list.stderr()).toBe(0);
        expect(list.stdout()).toContain(envExample.TOKENSMITH_ADMIN_CLIENT_ID);

        // The key-encryption key of the env file encrypts the signing keys in Redis (default key prefix).
        const stored = await redis.command(["GET", `tokensmith:${storeKeys.signingKeys()}`]);
        expect(typeof stored).toBe("string");
        const envelope = JSON.parse(stored as string) as { encrypted?: string };
        expect(Object.keys(envelope)).toEqual(["encrypted"]);
        const ring = JSON.parse(KeyEncryption.fromEnvironmentValue(env.TOKENSMITH_KEY_ENCRYPTION_KEY).decrypt(envelope.encrypted!, "tokensmith signing key ring")) as { keys: unknown[] };
        expect(ring.keys.length).toBeGreaterThan(0);

        run.child.kill("SIGTERM");
        expect((await run.exited).code).toBe(0);
        expect(run.stdout()).toMatch(/"msg":"shutting down"/);
        expect(await runHealthcheck(port)).not.toBe(0);
      },
      { nodeArgs: flags, entry: entrypoint!.at(-1)! },
    );
  });

  it.each<[string, Record<string, string>, string]>([
    ["as .env.example leaves it", {}, "TOKENSMITH_ADMIN_CLIENT_SECRET_HASH is not set"],
    ["with the admin client but no key-encryption key", { TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: filledIn().TOKENSMITH_ADMIN_CLIENT_SECRET_HASH }, "TOKENSMITH_KEY_ENCRYPTION_KEY"],
  ])("with the env file %s, it refuses to start with exit code 2, naming what is missing", async (_name, filled, missing) => {
    const env = { ...imageEnv, ...envExample, ...composeEnv, ...filled, REDIS_URL: redis.url, TOKENSMITH_PORT: String(await freePort()), TOKENSMITH_HOST: "127.0.0.1" };
    const run = runCli(cmd!, env, { nodeArgs: entrypoint!.slice(1, -1), entry: entrypoint!.at(-1)! });
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain(missing);
  });
});
