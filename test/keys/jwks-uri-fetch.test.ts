import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JwksUriError } from "../../src/domain/jwks-uri-policy.js";
import { createJwksUriFetch, DEFAULT_JWKS_URI_FETCH_LIMITS } from "../../src/keys/jwks-uri-fetch.js";
import { startHttpHost, type HttpHost } from "../support/oauth.js";

/**
 * The jwks_uri fetcher on real sockets (issue 16): https with the
 * certificate checked against the URI's name even though the connection goes
 * to the address that was checked; a deadline on the whole fetch.
 */

const open = { allowHttp: true, allowPrivateNetworks: true };
const fetchOptions = () => ({ headers: new Headers(), method: "GET" as const, redirect: "manual" as const, signal: new AbortController().signal });
const keys = { keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] };

describe("https: connected by address, verified by name", () => {
  let dir: string;
  let ca: Buffer;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tokensmith-jwks-tls-"));
    const [certFile, keyFile] = [join(dir, "c.pem"), join(dir, "k.pem")];
    // The certificate names only `localhost`: were the check made against 127.0.0.1, it would fail.
    execFileSync(
      "openssl",
      // prettier-ignore
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", keyFile, "-out", certFile],
      { stdio: "ignore" },
    );
    ca = await readFile(certFile);
    server = createServer({ cert: ca, key: await readFile(keyFile) }, (_req, res) => res.end(JSON.stringify(keys)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the JWK Set from https://localhost (certificate for localhost)", async () => {
    const fetchJwks = createJwksUriFetch(open, { ...DEFAULT_JWKS_URI_FETCH_LIMITS, ca });
    const response = await fetchJwks(`https://localhost:${port}/jwks.json`, fetchOptions());
    expect(await response.json()).toEqual(keys);
  });

  it("refuses the same server reached as https://127.0.0.1 (the certificate does not name that address)", async () => {
    const fetchJwks = createJwksUriFetch(open, { ...DEFAULT_JWKS_URI_FETCH_LIMITS, ca });
    await expect(fetchJwks(`https://127.0.0.1:${port}/jwks.json`, fetchOptions())).rejects.toThrow(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it("refuses a certificate it does not trust", async () => {
    const fetchJwks = createJwksUriFetch(open);
    await expect(fetchJwks(`https://localhost:${port}/jwks.json`, fetchOptions())).rejects.toBeInstanceOf(JwksUriError);
  });
});

describe("the deadline", () => {
  let silent: HttpHost;
  beforeAll(async () => {
    // Accepts, sends headers and one byte, then nothing more.
    silent = await startHttpHost((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write("{");
    });
  });
  afterAll(() => silent?.close());

  it("a body that stops arriving ends the fetch with a TimeoutError at the deadline", async () => {
    const fetchJwks = createJwksUriFetch(open, { ...DEFAULT_JWKS_URI_FETCH_LIMITS, timeoutMs: 200 });
    await expect(fetchJwks(silent.url, fetchOptions())).rejects.toMatchObject({ name: "TimeoutError" });
    expect(silent.hits()).toBe(1);
  });
});
