import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { basicAuthorization } from "../../src/client/basic-authorization.js";
import { generateSecret, hashSecret, hasValidChecksum, isSecretHash } from "../../src/domain/secret-format.js";
import { killCliProcesses, runCli, withCli } from "../support/cli-process.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";

/**
 * The `tokensmith` command as an operator runs it: `node bin/tokensmith.js`
 * from the repository root, configured by a file and the environment.
 */

// Every test starts Node with the TypeScript loader: seconds each, more on a busy two-core machine.
vi.setConfig({ testTimeout: 60_000 });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The pino log lines (JSON) of a run's stdout. */
function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokensmith-cli-"));
});

// Tests in this file run one after another, so whatever is still running belongs to the test that just ended
// (one that timed out never reached its own cleanup).
afterEach(() => {
  killCliProcesses();
});

afterAll(async () => {
  killCliProcesses();
  await rm(dir, { recursive: true, force: true });
});

describe("a bad configuration stops `serve` with exit code 2 and names the field", () => {
  it("TOKENSMITH_PORT=abc", async () => {
    const run = runCli(["serve"], { TOKENSMITH_PORT: "abc" });
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain("TOKENSMITH_PORT");
    expect(run.stdout()).not.toContain("tokensmith listening");
  });

  it.each([
    ["TOKENSMITH_DEMO_SECRET", "client_secret"],
    ["TOKENSMITH_DEMO_ADMIN_SECRET", "client_secret"],
    ["TOKENSMITH_DEMO_API_KEY", "api_key"],
  ] as const)("%s that is not a secret tokensmith made (a typo, the other kind), without echoing it", async (variable, kind) => {
    const wrong = generateSecret(kind === "api_key" ? "client_secret" : "api_key");
    for (const value of ["tks_cs_typo", wrong]) {
      const run = runCli(["serve"], { TOKENSMITH_PORT: "0", [variable]: value });
      expect((await run.exited).code).toBe(2);
      expect(run.stderr()).toContain(variable);
      expect(run.stderr()).toContain(kind === "api_key" ? "tokensmith secret new --kind api-key" : "tokensmith secret new");
      expect(run.stderr() + run.stdout()).not.toContain(value);
    }
  });

  it.each([
    ["--config FILE", (path: string) => ({ args: ["serve", "--config", path], env: {} })],
    ["TOKENSMITH_CONFIG", (path: string) => ({ args: ["serve"], env: { TOKENSMITH_CONFIG: path } })],
  ])("a config file with an unknown field, given by %s", async (_case, how) => {
    const path = join(dir, "unknown-field.yaml");
    await writeFile(path, "port: 0\nlisten_adress: 0.0.0.0\n");
    const { args, env } = how(path);
    const run = runCli(args, env);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain("listen_adress");
    expect(run.stderr()).toContain(path);
  });

  it("a config file that holds a plain secret instead of its hash, without echoing the secret", async () => {
    const secret = generateSecret("client_secret");
    const path = join(dir, "plain-secret.json");
    await writeFile(path, JSON.stringify({ port: 0, clients: [{ id: "svc", secretHashes: [secret], scopes: ["a:b"] }] }));
    const run = runCli(["serve", "--config", path]);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain("clients.0.secretHashes.0");
    expect(run.stderr() + run.stdout()).not.toContain(secret);
  });

  it("a config file that does not exist", async () => {
    const path = join(dir, "missing.yaml");
    const run = runCli(["serve", "--config", path]);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain(path);
  });
});

describe("other failures", () => {
  it("an unknown command exits with code 2 and prints the usage", async () => {
    const run = runCli(["frobnicate"]);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain('unknown command "frobnicate"');
    expect(run.stderr()).toContain("usage: tokensmith");
  });

  describe("a port already in use", () => {
    let occupier: Server;
    let port: number;

    beforeAll(async () => {
      occupier = createServer();
      await new Promise<void>((resolve) => occupier.listen(0, "127.0.0.1", resolve));
      port = (occupier.address() as AddressInfo).port;
    });

    afterAll(async () => {
      await new Promise((resolve) => occupier.close(resolve));
    });

    it("stops `serve` with a non-zero exit code that is not the config error code", async () => {
      const run = runCli(["serve"], { TOKENSMITH_PORT: String(port), TOKENSMITH_LOG_LEVEL: "silent" });
      expect((await run.exited).code).toBe(1);
      expect(run.stderr()).toContain("EADDRINUSE");
    });
  });
});

describe("secret new", () => {
  it("--json prints a fresh client secret and the hash that matches it", async () => {
    const runs = [runCli(["secret", "new", "--json"]), runCli(["secret", "new", "--json"])];
    const printed = await Promise.all(
      runs.map(async (run) => {
        expect((await run.exited).code).toBe(0);
        return JSON.parse(run.stdout()) as { secret: string; secretHash: string };
      }),
    );
    for (const { secret, secretHash } of printed) {
      expect(hasValidChecksum(secret, "client_secret")).toBe(true);
      expect(isSecretHash(secretHash)).toBe(true);
      expect(secretHash).toBe(hashSecret(secret));
    }
    expect(printed[0]?.secret).not.toBe(printed[1]?.secret);
  });

  it("prints the secret, its hash and a config snippet for humans", async () => {
    const run = runCli(["secret", "new"]);
    expect((await run.exited).code).toBe(0);
    const secret = run.stdout().match(/^secret:\s+(\S+)$/m)?.[1] ?? "";
    const hash = run.stdout().match(/^secret hash:\s+(\S+)$/m)?.[1] ?? "";
    expect(hasValidChecksum(secret, "client_secret")).toBe(true);
    expect(hash).toBe(hashSecret(secret));
    expect(run.stdout()).toContain(`secretHashes: ["${hash}"]`);
  });
});

describe("serve", () => {
  it("without any client: shows a demo client once, issues it a token over Connect JSON, and stops cleanly on SIGTERM", async () => {
    const port = await freePort();
    await withCli(["serve"], { TOKENSMITH_PORT: String(port) }, async (run) => {
      const [, clientId = "", secret = ""] = await run.waitForStdout(/client_id:\s+(\S+)\n\s+client_secret:\s+(\S+)\n/);
      // The log is written asynchronously: it may come after the banner.
      await run.waitForStdout(/"msg":"tokensmith listening"/);
      const url = `http://127.0.0.1:${port}`;

      const listening = logLines(run.stdout()).find((line) => line.msg === "tokensmith listening");
      expect(listening).toMatchObject({ port, issuer: url });
      expect(clientId).toBe("demo");
      expect(hasValidChecksum(secret, "client_secret")).toBe(true);
      expect(run.stdout().match(/client_secret:/g)).toHaveLength(1);
      expect(run.stdout()).toContain(`export TOKENSMITH_URL=${url} CLIENT_ID=demo CLIENT_SECRET=${secret} `);

      const response = await fetch(`${url}/tokensmith.v1.TokenService/IssueClientToken`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: basicAuthorization(clientId, secret) },
        body: "{}",
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { accessToken: string; tokenType: string; scopes: string[] };
      expect(body.tokenType).toBe("Bearer");
      expect(body.accessToken.split(".")).toHaveLength(3);
      expect(body.scopes).toEqual(["demo:read", "demo:write", "token:introspect"]);

      run.child.kill("SIGTERM");
      expect(await run.exited).toEqual({ code: 0, signal: null });
      expect(logLines(run.stdout()).some((line) => line.msg === "shutting down")).toBe(true);
      // Shown once, in the banner: never in a log line, nor on stderr.
      for (const line of logLines(run.stdout())) expect(JSON.stringify(line)).not.toContain(secret);
      expect(run.stderr()).not.toContain(secret);
    });
  });

  it("the demo also makes an admin client and an API key, with secrets the environment can fix; the banner's export line and IssueGrant call work", async () => {
    const port = await freePort();
    const fixed = { client: generateSecret("client_secret"), admin: generateSecret("client_secret"), apiKey: generateSecret("api_key") };
    const env = { TOKENSMITH_PORT: String(port), TOKENSMITH_DEMO_SECRET: fixed.client, TOKENSMITH_DEMO_ADMIN_SECRET: fixed.admin, TOKENSMITH_DEMO_API_KEY: fixed.apiKey };
    await withCli(["serve"], env, async (run) => {
      const [, exported = ""] = await run.waitForStdout(/^\s*export (.*)$/m);
      const url = `http://127.0.0.1:${port}`;
      const variables = Object.fromEntries(exported.split(" ").map((pair) => pair.split("=", 2) as [string, string]));
      expect(variables).toEqual({
        TOKENSMITH_URL: url,
        CLIENT_ID: "demo",
        CLIENT_SECRET: fixed.client,
        API_KEY: fixed.apiKey,
        TOKENSMITH_CLIENT_ID: "demo-admin",
        TOKENSMITH_CLIENT_SECRET: fixed.admin,
      });
      expect(run.stdout()).toContain(`${url}/console`);
      const post = (path: string, authorization: string, body: string, type = "application/json") =>
        fetch(`${url}${path}`, { method: "POST", headers: { "content-type": type, authorization, connection: "close" }, body });

      // The banner's IssueGrant call, then the API key spends its own grant once.
      expect(run.stdout()).toContain(`-d '{"username":"alice","grants":["passkey:read"]}'`);
      const issued = await post("/tokensmith.v1.TokenService/IssueGrant", basicAuthorization(fixed.apiKey, ""), '{"username":"alice","grants":["passkey:read"]}');
      expect(issued.status).toBe(200);
      const { token } = (await issued.json()) as { token: string };
      expect(token).toMatch(/^tks_gr_/);
      const consume = JSON.stringify({ token, consume: true });
      expect(await (await post("/tokensmith.v1.TokenService/Introspect", basicAuthorization(fixed.apiKey, ""), consume)).json()).toMatchObject({ active: true, username: "alice", clientId: "demo-backend" });
      expect(await (await post("/tokensmith.v1.TokenService/Introspect", basicAuthorization(fixed.apiKey, ""), consume)).json()).toEqual({ active: false });
      // Nothing beyond its scopes.
      const refused = await post("/tokensmith.v1.TokenService/IssueGrant", basicAuthorization(fixed.apiKey, ""), '{"username":"alice","grants":["demo:read"]}');
      expect(refused.status).toBe(403);

      // The admin client: a tokensmith:admin token that the AdminService takes; the demo client's is refused there.
      const adminToken = await post("/oauth2/token", basicAuthorization("demo-admin", fixed.admin), "grant_type=client_credentials&scope=tokensmith:admin", "application/x-www-form-urlencoded");
      expect(adminToken.status).toBe(200);
      const { access_token: bearer } = (await adminToken.json()) as { access_token: string };
      const listed = await post("/tokensmith.v1.AdminService/ListClients", `Bearer ${bearer}`, "{}");
      expect(listed.status).toBe(200);
      expect(((await listed.json()) as { clients: Array<{ id: string }> }).clients.map((client) => client.id)).toEqual(["demo", "demo-admin"]);
      const demoToken = await post("/tokensmith.v1.TokenService/IssueClientToken", basicAuthorization("demo", fixed.client), "{}");
      const { accessToken } = (await demoToken.json()) as { accessToken: string };
      expect((await post("/tokensmith.v1.AdminService/ListClients", `Bearer ${accessToken}`, "{}")).status).toBe(403);
      // And a platform administrator (tokensmith:tenants): the README's tenant examples and the console's Tenants tab.
      const platformToken = await post("/oauth2/token", basicAuthorization("demo-admin", fixed.admin), "grant_type=client_credentials&scope=tokensmith:tenants", "application/x-www-form-urlencoded");
      const { access_token: platformBearer } = (await platformToken.json()) as { access_token: string };
      expect((await post("/tokensmith.v1.AdminService/ListTenants", `Bearer ${platformBearer}`, "{}")).status).toBe(200);

      run.child.kill("SIGTERM");
      expect((await run.exited).code).toBe(0);
      for (const line of logLines(run.stdout())) for (const secret of Object.values(fixed)) expect(JSON.stringify(line)).not.toContain(secret);
    });
  });

  it("refuses a secret other than the one shown", async () => {
    const port = await freePort();
    await withCli(["serve"], { TOKENSMITH_PORT: String(port), TOKENSMITH_LOG_LEVEL: "silent" }, async (run) => {
      await run.waitForStdout(/client_secret:\s+\S+\n/);
      const response = await fetch(`http://127.0.0.1:${port}/tokensmith.v1.TokenService/IssueClientToken`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: basicAuthorization("demo", generateSecret("client_secret")),
          connection: "close",
        },
        body: "{}",
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { code: string }).code).toBe("unauthenticated");
      run.child.kill("SIGTERM");
      expect((await run.exited).code).toBe(0);
    });
  });

  describe("creates no demo client outside a development setup (issue 16, item 10d)", () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it.each<[string, () => Record<string, string>]>([
      ["NODE_ENV=production", () => ({ NODE_ENV: "production" })],
      ["the Redis store", () => ({ REDIS_URL: redis.url })],
    ])("with %s: no demo client, and the log says how to get a client", async (_case, env) => {
      const port = await freePort();
      await withCli(["serve"], { TOKENSMITH_PORT: String(port), ...env() }, async (run) => {
        await run.waitForStdout(/"msg":"tokensmith listening"/);
        // Whichever comes first: the notice, or a demo client's banner.
        const [shown = "", notice = ""] = await run.waitForStdout(/"msg":"(no demo client[^"]*)"|client_secret:\s+\S+/);
        expect(shown).not.toContain("client_secret:");
        expect(notice).toContain("tokensmith secret new");
        const response = await fetch(`http://127.0.0.1:${port}/oauth2/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicAuthorization("demo", generateSecret("client_secret")), connection: "close" },
          body: "grant_type=client_credentials",
        });
        expect(response.status).toBe(401);
        run.child.kill("SIGTERM");
        expect((await run.exited).code).toBe(0);
        expect(run.stdout()).not.toContain("client_secret:");
      });
    });
  });

  it(`serve warns at start when this Node is past its end of life (Node ${process.versions.node}: ${Number.parseInt(process.versions.node, 10) < 22 ? "a warning" : "none"})`, async () => {
    const port = await freePort();
    await withCli(["serve"], { TOKENSMITH_PORT: String(port) }, async (run) => {
      await run.waitForStdout(/client_secret:\s+\S+/);
      run.child.kill("SIGTERM");
      expect((await run.exited).code).toBe(0);
      // The warning is logged right after the banner, before the shutdown line of the same stream.
      expect(run.stdout()).toContain('"msg":"shutting down"');
      const warned = run.stdout().includes(`Node ${process.versions.node} is past its end of life`);
      expect(warned).toBe(Number.parseInt(process.versions.node, 10) < 22);
    });
  });

  it("with a configured client: creates no demo client, and stops cleanly on SIGTERM", async () => {
    const port = await freePort();
    const path = join(dir, "with-client.yaml");
    await writeFile(
      path,
      `clients:\n  - id: orders-service\n    secretHashes: ["${hashSecret(generateSecret("client_secret"))}"]\n    scopes: [orders:read]\n`,
    );
    await withCli(["serve", "--config", path], { TOKENSMITH_PORT: String(port) }, async (run) => {
      await run.waitForStdout(/"msg":"tokensmith listening"/);
      // An answer proves start-up has finished, signal handlers included (they are installed right after the log line).
      expect((await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`, { headers: { connection: "close" } })).status).toBe(200);
      run.child.kill("SIGTERM");
      expect(await run.exited).toEqual({ code: 0, signal: null });
      expect(run.stdout()).not.toContain("client_secret:");
      expect(run.stdout()).not.toContain("demo");
    });
  });

  it("stops cleanly on a SIGTERM sent the moment it logs that it is listening (three starts)", async () => {
    // A supervisor may stop the service as soon as it reports ready: the
    // shutdown handlers must already be in place when the ready line is out.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const port = await freePort();
      await withCli(["serve"], { TOKENSMITH_PORT: String(port) }, async (run) => {
        const sigterm = () => {
          if (run.stdout().includes('"msg":"tokensmith listening"')) {
            run.child.stdout?.off("data", sigterm);
            run.child.kill("SIGTERM");
          }
        };
        run.child.stdout?.on("data", sigterm);
        expect(await run.exited, `attempt ${attempt}`).toEqual({ code: 0, signal: null });
      });
    }
  });
});
