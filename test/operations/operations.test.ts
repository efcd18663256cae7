import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { RunningServer } from "../../src/server.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read", "token:introspect"]);

describe("liveness, readiness and metrics", () => {
  let redis: RedisServer;
  let server: RunningServer;

  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({ clients: [orders], config: { store: { type: "redis", url: redis.url } } });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it("/healthz says alive, /readyz says ready while the store answers", async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: "alive" });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("/readyz is 503 while Redis is down and ready again after, /healthz stays alive", async () => {
    await redis.kill();
    try {
      const notReady = await fetch(`${server.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: "store_unavailable" });
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await redis.restart();
    }
    const deadline = Date.now() + 10_000;
    while ((await fetch(`${server.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error("never ready again");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it("/metrics counts requests by method and code, tokens issued and store errors, and shows no secret", async () => {
    const rpc = tokenClient(transports["grpc (HTTP/2)"](server.url));
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    await rpc.issueClientToken({}, { headers: basic(orders.id, "wrong") }).catch(() => undefined);
    await fetch(`${server.url}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...basic(orders.id, orders.secret) },
      body: "grant_type=client_credentials",
    });
    await fetch(`${server.url}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...basic(orders.id, "wrong") },
      body: "grant_type=client_credentials",
    });
    await fetch(`${server.url}/oauth2/token`, { method: "POST", headers: { "content-type": "text/plain" }, body: "x" });
    await fetch(`${server.url}/oauth2/token`);
    await redis.kill();
    try {
      await expect(rpc.introspect({ token: accessToken }, { headers: basic(orders.id, orders.secret) })).rejects.toMatchObject({ code: 14 });
    } finally {
      await redis.restart();
    }
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/tokensmith_requests_total\{protocol="rpc",method="IssueClientToken",code="ok"\} [1-9]/);
    expect(text).toMatch(/tokensmith_requests_total\{protocol="rpc",method="IssueClientToken",code="Unauthenticated"\} [1-9]/);
    expect(text).toMatch(/tokensmith_requests_total\{protocol="http",method="\/oauth2\/token",code="200"\} 1\n/);
    expect(text).toMatch(/tokensmith_requests_total\{protocol="http",method="\/oauth2\/token",code="401"\} 1\n/);
    expect(text).toMatch(/tokensmith_requests_total\{protocol="http",method="\/oauth2\/token",code="400"\} 1\n/);
    expect(text).toMatch(/tokensmith_requests_total\{protocol="http",method="\/oauth2\/token",code="405"\} 1\n/);
    expect(text).toMatch(/tokensmith_tokens_issued_total\{kind="access_token"\} [2-9]/);
    expect(text).toMatch(/tokensmith_request_duration_seconds_bucket\{le="0.005",protocol="rpc",method="IssueClientToken"\}/);
    expect(text).toMatch(/tokensmith_store_errors_total [1-9]/);
    expect(text).toMatch(/tokensmith_signing_key_age_seconds\{kid="[^"]+"\} \d/);
    expect(text).toContain("tokensmith_process_resident_memory_bytes");
    expect(text).not.toContain(orders.secret);
    expect(text).not.toContain(accessToken);
  });

  it("echoes a well-formed X-Request-Id and makes one up otherwise", async () => {
    const given = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "abc-123" } });
    expect(given.headers.get("x-request-id")).toBe("abc-123");
    const replaced = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("graceful shutdown", () => {
  it("readiness goes false first, a request in flight completes, then the port closes", async () => {
    const server = await startTestServer({ clients: [orders], config: { shutdownDelaySeconds: 0.3, shutdownGraceSeconds: 5 } });
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);

    // A token request whose body is still on its way when shutdown begins.
    const body = "grant_type=client_credentials";
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${server.url}/oauth2/token`,
        { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", "content-length": body.length, ...basic(orders.id, orders.secret) } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.write(body.slice(0, 5));
      setTimeout(() => req.end(body.slice(5)), 500);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = server.close();
    // During the shutdown delay: not ready, not serving, but still answering.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
    expect(await inFlight).toBe(200);
    await closing;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe("TLS on the same port, and requireTls", () => {
  let dir: string;
  let server: RunningServer;
  let ca: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tokensmith-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    ca = readFileSync(join(dir, "cert.pem"));
    server = await startTestServer({
      clients: [orders],
      config: { tls: { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") }, requireTls: true },
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const plainUrl = () => server.url.replace("https://", "http://");

  it("plain HTTP/1.1 is refused with a clear message, and the probes still answer", async () => {
    const refused = await fetch(`${plainUrl()}/oauth2/token`, { method: "POST", body: "grant_type=client_credentials" });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: "invalid_request", error_description: expect.stringMatching(/TLS is required.*https:\/\//) });
    expect((await fetch(`${plainUrl()}/healthz`)).status).toBe(200);
  });

  it("plain gRPC over h2c is refused with PermissionDenied", async () => {
    const rpc = tokenClient(createGrpcTransport({ baseUrl: plainUrl() }));
    await expect(rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) })).rejects.toMatchObject({ code: 7 });
  });

  it("HTTPS with HTTP/1.1 and HTTP/2 (ALPN) work on the same port", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${server.url}/.well-known/jwks.json`, { ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(200);
    const session = http2Connect(server.url, { ca });
    const h2Status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ":path": "/healthz" });
      stream.on("response", (headers) => resolve(Number(headers[":status"])));
      stream.on("error", reject);
      stream.end();
    });
    session.close();
    expect(h2Status).toBe(200);
    const rpc = tokenClient(createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca } }));
    const issued = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    expect(issued.tokenType).toBe("Bearer");
  });
});
