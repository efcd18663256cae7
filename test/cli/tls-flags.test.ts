import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/redis-server.js";

const ROOT = new URL("../..", import.meta.url).pathname;

describe("serve --tls-cert --tls-key", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tokensmith-cli-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves HTTPS on the port and refuses cleartext there with a clear message", async () => {
    const port = await freePort();
    let output = "";
    const child = spawn(process.execPath, ["bin/tokensmith.js", "serve", "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: "", TOKENSMITH_PORT: String(port) },
    });
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const deadline = Date.now() + 60_000;
      while (!/client_secret: tks_cs_/.test(output)) {
        if (Date.now() > deadline) throw new Error(`did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(output).toContain(`https://127.0.0.1:${port}`);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`https://127.0.0.1:${port}/.well-known/jwks.json`, { ca: readFileSync(join(dir, "cert.pem")) }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
      expect(status).toBe(200);
      const plain = await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`);
      expect(plain.status).toBe(403);
      expect(((await plain.json()) as { error_description: string }).error_description).toMatch(/TLS is required/);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);
});
