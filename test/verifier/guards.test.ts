import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiagnosticsService } from "../../gen/tokensmith/v1/diagnostics_service_pb.js";
import { createVerifier, verifiedClaimsKey, verifierInterceptor, verifierMiddleware, type AuthenticatedRequest, type VerifiedClaims, type Verifier } from "../../src/verifier/index.js";
import { ADMIN_SCOPE, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { memoryBackend } from "../support/backends.js";
import { eventually } from "../support/eventually.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * The two guards of tokensmith/verifier (issue 18 item 5) on real servers:
 * verifierInterceptor on a connect-node gRPC service, verifierMiddleware on
 * node:http, alone and Express-style with next(). RFC 6750 §3: 401 with a
 * bare `Bearer` challenge when no token came, `error="invalid_token"` for a
 * bad one, 403 `insufficient_scope` naming the scope; 503 while stale.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("orders-api", ["token:introspect"]);
const reader = testClient("reader", ["orders:read"], { audiences: ["orders"] });
const writer = testClient("writer", ["orders:read", "orders:write"], { audiences: ["orders"] });

const backend = memoryBackend();
let t: AdminTestServer;
let verifier: Verifier;
beforeAll(async () => {
  await backend.start();
  t = await startAdminServer(backend, { admin, clients: [resourceServer, reader, writer], config: { watchHeartbeatSeconds: 0.1 } });
  verifier = createVerifier({
    baseUrl: t.server.url,
    issuer: t.server.url,
    audience: "orders",
    clientId: resourceServer.id,
    clientSecret: resourceServer.secret,
  });
  await verifier.ready();
});
afterAll(async () => {
  await verifier?.close();
  await t?.close();
  await backend.stop();
});

const tokenOf = async (client = writer) => (await t.tokens.issueClientToken({ audience: ["orders"] }, { headers: basic(client.id, client.secret) })).accessToken;
const revokedToken = async () => {
  const token = await tokenOf();
  await t.tokens.revoke({ token }, { headers: basic(writer.id, writer.secret) });
  await eventually(async () => !(await verifier.verify(token)).active);
  return token;
};

async function listen(server: http.Server | http2.Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("verifierInterceptor on a connect-node service", () => {
  let server: http2.Http2Server;
  let url: string;
  const sessions = new Set<http2.ServerHttp2Session>();
  const seen: Array<VerifiedClaims | undefined> = [];
  beforeAll(async () => {
    server = http2.createServer(
      connectNodeAdapter({
        interceptors: [verifierInterceptor(verifier, { scopes: ["orders:write"] })],
        routes: (router) =>
          router.service(DiagnosticsService, {
            ping(request, context) {
              seen.push(context.values.get(verifiedClaimsKey));
              return { payload: request.payload };
            },
          }),
      }),
    );
    server.on("session", (session) => sessions.add(session));
    url = await listen(server);
  });
  afterAll(async () => {
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = () => createClient(DiagnosticsService, createGrpcTransport({ baseUrl: url }));
  const ping = (authorization?: string) => client().ping({ payload: "hi" }, authorization === undefined ? {} : { headers: { authorization } });

  it("passes a good token with the scopes, and the handler gets its claims", async () => {
    seen.length = 0;
    expect((await ping(`Bearer ${await tokenOf()}`)).payload).toBe("hi");
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ client_id: writer.id, aud: "orders" });
  });

  it("refuses: no token or a revoked one Unauthenticated, a missing scope PermissionDenied, a non-Bearer header InvalidArgument; the handler never runs", async () => {
    seen.length = 0;
    const codeOf = (call: Promise<unknown>) => call.then(() => "passed", (error: unknown) => Code[ConnectError.from(error).code]);
    expect([
      await codeOf(ping()),
      await codeOf(ping(`Bearer ${await revokedToken()}`)),
      await codeOf(ping(`Bearer ${await tokenOf(reader)}`)),
      await codeOf(ping(basic(writer.id, writer.secret).authorization)),
    ]).toEqual(["Unauthenticated", "Unauthenticated", "PermissionDenied", "InvalidArgument"]);
    expect(seen).toEqual([]);
  });
});

describe("verifierMiddleware", () => {
  let plain: http.Server;
  let express: http.Server;
  let plainUrl: string;
  let expressUrl: string;
  beforeAll(async () => {
    const guarded = verifierMiddleware(verifier, { scopes: ["orders:write"] });
    plain = http.createServer(async (req, res) => {
      if (!(await guarded(req, res))) return;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify((req as AuthenticatedRequest).auth.claims));
    });
    // Express's shape: (req, res, next), the next handler runs only through next().
    express = http.createServer((req, res) => {
      void guarded(req, res, (error?: unknown) => {
        if (error !== undefined) return res.writeHead(500).end();
        res.writeHead(200).end(`hello ${(req as AuthenticatedRequest).auth.claims.client_id}`);
      });
    });
    [plainUrl, expressUrl] = await Promise.all([listen(plain), listen(express)]);
  });
  afterAll(async () => {
    await Promise.all([plain, express].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  const get = (url: string, authorization?: string) => fetch(url, authorization === undefined ? {} : { headers: { authorization } });

  it("passes a good token: node:http gets true and req.auth, Express-style next() runs", async () => {
    const token = await tokenOf();
    const response = await get(plainUrl, `Bearer ${token}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ client_id: writer.id, scope: "orders:read orders:write" });
    const viaNext = await get(expressUrl, `bearer ${token}`);
    expect([viaNext.status, await viaNext.text()]).toEqual([200, `hello ${writer.id}`]);
  });

  it.each<[string, () => Promise<string | undefined>, number, RegExp]>([
    ["no Authorization header: a bare challenge", async () => undefined, 401, /^Bearer$/],
    ["a revoked token", async () => `Bearer ${await revokedToken()}`, 401, /^Bearer error="invalid_token", error_description="the token was revoked"$/],
    ["a token that is not a JWT", async () => "Bearer not-a-jwt", 401, /^Bearer error="invalid_token"/],
    ["a token without orders:write", async () => `Bearer ${await tokenOf(reader)}`, 403, /^Bearer error="insufficient_scope", .*scope="orders:write"$/],
    ["Basic credentials instead of a Bearer token", async () => basic(writer.id, writer.secret).authorization, 400, /^Bearer error="invalid_request"/],
  ])("%s: refused with the RFC 6750 challenge, on both", async (_case, authorization, status, challenge) => {
    const header = await authorization();
    for (const url of [plainUrl, expressUrl]) {
      const response = await get(url, header);
      expect(response.status).toBe(status);
      expect(response.headers.get("www-authenticate")).toMatch(challenge);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const body = (await response.json()) as { error: string };
      expect(body.error).toMatch(/^(invalid_token|insufficient_scope|invalid_request)$/);
    }
  });

  it("while the verifier is stale: 503 with Retry-After, never 200", async () => {
    const token = await tokenOf();
    const stale = createVerifier({ baseUrl: t.server.url, issuer: t.server.url, audience: "orders", clientId: resourceServer.id, clientSecret: resourceServer.secret });
    // Never started: no snapshot, so stale.
    const server = http.createServer(async (req, res) => {
      if (await verifierMiddleware(stale)(req, res)) res.writeHead(200).end();
    });
    try {
      const response = await get(await listen(server), `Bearer ${token}`);
      expect([response.status, response.headers.get("retry-after"), ((await response.json()) as { error: string }).error]).toEqual([503, "1", "temporarily_unavailable"]);
    } finally {
      await stale.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
