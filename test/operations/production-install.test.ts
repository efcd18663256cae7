import { execFileSync } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { bundleConsole, CONSOLE_SCRIPT_PATH } from "../../scripts/build-console.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { generateSigningKey } from "../../src/keys/signing-key.js";
import { killCliProcesses, repoRoot, withCli, type CliOptions } from "../support/cli-process.js";
import { postForm } from "../support/oauth.js";
import { freePort } from "../support/redis-server.js";
import { basic } from "../support/tokensmith.js";

/**
 * What `npm ci --omit=dev && NODE_ENV=production npm start` runs: no esbuild
 * for Tokensmith's own code (test/support/without-esbuild.mjs stands in for
 * the missing devDependency), either the TypeScript sources through tsx or
 * the compiled build of `npm run build`. The console and its script are
 * served, the script being the bundle of src/console as it is now, and the
 * signing threads run the module they are meant to.
 */

// Each case starts Node (and one compiles the project): seconds each on a busy two-core machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const WITHOUT_ESBUILD = ["--import", pathToFileURL(join(repoRoot, "test/support/without-esbuild.mjs")).href];
/** `npm run build`, into a directory of its own so that no other test runs this build. */
const BUILD = join(repoRoot, "test-artifacts", "production-build");

let currentBundle: Buffer;

beforeAll(async () => {
  currentBundle = await bundleConsole();
  await rm(BUILD, { recursive: true, force: true });
  execFileSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", BUILD], { cwd: repoRoot, stdio: "inherit" });
});

afterAll(async () => {
  killCliProcesses();
  await rm(BUILD, { recursive: true, force: true });
});

describe.each<[string, CliOptions]>([
  // What bin/tokensmith.js runs when there is no dist/ (a checkout may hold an older one).
  ["the TypeScript sources (npm start without a build)", { nodeArgs: [...WITHOUT_ESBUILD, "--import", "tsx"], entry: join(repoRoot, "src/cli.ts") }],
  ["the compiled build (npm run build)", { nodeArgs: WITHOUT_ESBUILD, entry: join(BUILD, "src/cli.js") }],
])("a production install running %s", (_name, options) => {
  it("serves /console and /console/app.js, the bundle of src/console as it is now", async () => {
    const port = await freePort();
    await withCli(
      ["serve"],
      { TOKENSMITH_PORT: String(port), NODE_ENV: "production" },
      async (run) => {
        await run.waitForStdout(/"msg":"tokensmith listening"/);
        const page = await fetch(`http://127.0.0.1:${port}/console`, { headers: { connection: "close" } });
        expect(page.status).toBe(200);
        expect(await page.text()).toContain('<script type="module" src="/console/app.js">');
        const script = await fetch(`http://127.0.0.1:${port}/console/app.js`, { headers: { connection: "close" } });
        const body = Buffer.from(await script.arrayBuffer());
        expect({ status: script.status, type: script.headers.get("content-type") }, body.toString("utf8", 0, 300)).toEqual({
          status: 200,
          type: "text/javascript; charset=utf-8",
        });
        expect(body.equals(currentBundle)).toBe(true);
      },
      options,
    );
  });

  it("signs tokens in its signing thread: the thread's module loads (no thread is lost), and the tokens verify", async () => {
    const port = await freePort();
    const secret = generateSecret("client_secret");
    const config = join(BUILD, "with-client.yaml");
    await writeFile(config, `clients:\n  - id: orders-service\n    secretHashes: ["${hashSecret(secret)}"]\n    scopes: [orders:read]\n`);
    await withCli(
      ["serve", "--config", config],
      { TOKENSMITH_PORT: String(port), NODE_ENV: "production", TOKENSMITH_SIGNING_THREADS: "1" },
      async (run) => {
        await run.waitForStdout(/"msg":"tokensmith listening"/);
        const base = `http://127.0.0.1:${port}`;
        const jwks = createLocalJWKSet((await (await fetch(`${base}/.well-known/jwks.json`, { headers: { connection: "close" } })).json()) as JSONWebKeySet);
        for (let i = 0; i < 3; i++) {
          const response = await postForm(`${base}/oauth2/token`, { grant_type: "client_credentials" }, { ...basic("orders-service", secret), connection: "close" });
          expect(response.status).toBe(200);
          const { payload } = await jwtVerify((response.json as { access_token: string }).access_token, jwks);
          expect(payload.client_id).toBe("orders-service");
        }
        run.child.kill("SIGTERM");
        expect((await run.exited).code).toBe(0);
        expect(run.stdout()).not.toMatch(/signing thread/);
      },
      options,
    );
  });
});

describe("the compiled build's signing threads", () => {
  it("load the compiled signing-thread.js and sign there, the event loop signing none", async () => {
    const compiled = (await import(pathToFileURL(join(BUILD, "src/keys/signing-threads.js")).href)) as typeof import("../../src/keys/signing-threads.js");
    const { signatureOf } = (await import(pathToFileURL(join(BUILD, "src/keys/jws.js")).href)) as typeof import("../../src/keys/jws.js");
    const threads = new compiled.SigningThreads(1);
    try {
      const key = await generateSigningKey("EdDSA", Date.now());
      const inputs = Array.from({ length: 40 }, (_, i) => `compiled.input-${i}`);
      const signatures = await Promise.all(inputs.map((input) => threads.sign(key, input)));
      expect(signatures).toEqual(inputs.map((input) => signatureOf(key, input)));
      expect(threads.signedInEventLoop).toBe(0);
      expect(threads.running).toBe(1);
    } finally {
      await threads.close();
    }
  });
});

it("the committed static/console/app.js is the bundle of src/console as it is now", async () => {
  expect((await readFile(CONSOLE_SCRIPT_PATH)).equals(currentBundle)).toBe(true);
});
