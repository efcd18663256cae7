import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { freePort, startRedis, type RedisServer } from "../support/redis-server.js";

const ROOT = new URL("../..", import.meta.url).pathname;

function serve(env: Record<string, string>, args: string[] = []): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let output = "";
  const child = spawn(process.execPath, ["bin/tokensmith.js", "serve", ...args], { cwd: ROOT, env: { ...process.env, NODE_ENV: "", ...env } });
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** One request on a fresh connection (agent: false), so the cluster may hand it to any worker. */
function post(url: string, body: string, authorization: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent: false, headers: { "content-type": "application/x-www-form-urlencoded", authorization } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("serve --workers (node:cluster)", () => {
  let redis: RedisServer;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), "tokensmith-workers-"));
  });
  afterAll(async () => {
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses several workers without Redis, naming the field", async () => {
    const port = await freePort();
    const run = serve({ TOKENSMITH_PORT: String(port), REDIS_URL: "" }, ["--workers", "2"]);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/workers: several workers share .* only through Redis/);
  });

  it("two workers share a config client, the key ring and the store; SIGTERM stops them all", async () => {
    const port = await freePort();
    // With Redis there is no demo client (issue 16, item 10d): a client from the config file.
    const secret = generateSecret("client_secret");
    const config = join(dir, "workers.yaml");
    await writeFile(config, `clients:\n  - id: shared\n    secretHashes: ["${hashSecret(secret)}"]\n    scopes: [token:introspect]\n`);
    const run = serve({ TOKENSMITH_PORT: String(port), REDIS_URL: redis.url, TOKENSMITH_LOG_LEVEL: "info" }, ["--workers", "2", "--config", config]);
    try {
      const deadline = Date.now() + 60_000;
      while ((run.output().match(/tokensmith listening/g) ?? []).length < 2) {
        if (Date.now() > deadline) throw new Error(`workers did not start:\n${run.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const auth = `Basic ${Buffer.from(`shared:${secret}`).toString("base64")}`;
      const url = `http://127.0.0.1:${port}`;
      const tokens: string[] = [];
      for (let i = 0; i < 8; i += 1) {
        const issued = await post(`${url}/oauth2/token`, "grant_type=client_credentials", auth);
        expect(issued.status).toBe(200);
        tokens.push(issued.json.access_token as string);
      }
      for (const token of tokens) {
        const introspected = await post(`${url}/oauth2/introspect`, `token=${token}`, auth);
        expect(introspected.json.active).toBe(true);
      }
      const pids = new Set([...run.output().matchAll(/"pid":(\d+)[^\n]*tokensmith listening/g)].map((match) => match[1]));
      expect(pids.size).toBe(2);
      run.child.kill("SIGTERM");
      expect(await run.exited).toBe(0);
    } finally {
      run.child.kill("SIGKILL");
    }
  }, 90_000);
});
