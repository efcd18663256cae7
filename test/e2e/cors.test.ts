import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.js";
import type { RunningServer } from "../../src/server.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

/**
 * CORS (Fetch standard §3.2) as a browser meets it: preflights and actual
 * responses, for the RPCs and the OAuth and well-known endpoints alike. Raw
 * node:http, because fetch in Node neither preflights nor lets a test send
 * any Origin it likes.
 */

const APP = "http://app.test:3000";
const CONSOLE = "https://console.test";
const EVIL = "http://evil.test";
const orders = testClient("orders-service", ["orders:read"]);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // agent: false: one connection per request, none left open to hold up the server's close.
    const req = request(url, { method, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const preflight = (url: string, origin: string, requestHeaders = "authorization, content-type, connect-protocol-version") =>
  send(url, "OPTIONS", { origin, "access-control-request-method": "POST", "access-control-request-headers": requestHeaders });

const list = (value: string | string[] | undefined) => String(value ?? "").split(/,\s*/).map((item) => item.toLowerCase());
const corsHeaders = (answer: Answer) => Object.keys(answer.headers).filter((name) => name.startsWith("access-control-"));

const PATHS = [
  "/tokensmith.v1.TokenService/IssueClientToken",
  "/tokensmith.v1.TokenService/GetJwks",
  "/grpc.health.v1.Health/Check",
  "/oauth2/token",
  "/oauth2/introspect",
  "/.well-known/jwks.json",
  "/.well-known/oauth-authorization-server",
];

describe("with allowed origins and credentials", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ clients: [orders], config: { cors: { allowedOrigins: [APP, CONSOLE], allowCredentials: true } } });
  });
  afterAll(async () => {
    await server?.close();
  });

  describe.each(PATHS)("%s", (path) => {
    it.each([APP, CONSOLE])("a preflight from %s is answered: origin, methods, headers, credentials, max-age", async (origin) => {
      const answer = await preflight(`${server.url}${path}`, origin);
      expect(answer.status).toBe(204);
      expect(answer.headers["access-control-allow-origin"]).toBe(origin);
      expect(list(answer.headers["access-control-allow-methods"])).toEqual(["post", "get"]);
      expect(list(answer.headers["access-control-allow-headers"])).toEqual(
        expect.arrayContaining([
          "authorization",
          "content-type",
          "connect-protocol-version",
          "connect-timeout-ms",
          "x-grpc-web",
          "x-user-agent",
          "grpc-timeout",
        ]),
      );
      expect(answer.headers["access-control-allow-credentials"]).toBe("true");
      expect(answer.headers["access-control-max-age"]).toBe("7200");
      expect(list(answer.headers.vary)).toContain("origin");
    });

    it("a preflight from an origin not on the list is refused: 403 and no Access-Control-* header", async () => {
      const answer = await preflight(`${server.url}${path}`, EVIL);
      expect(answer.status).toBe(403);
      expect(corsHeaders(answer)).toEqual([]);
    });
  });

  it("an RPC from an allowed origin: the answer names the origin and exposes the gRPC-Web status headers", async () => {
    const answer = await send(
      `${server.url}/tokensmith.v1.TokenService/IssueClientToken`,
      "POST",
      { origin: APP, "content-type": "application/grpc-web+proto", "x-grpc-web": "1", authorization: "Basic b3JkZXJzLXNlcnZpY2U6d3Jvbmc=" },
      "\u0000\u0000\u0000\u0000\u0000",
    );
    expect(answer.status).toBe(200);
    expect(answer.headers["access-control-allow-origin"]).toBe(APP);
    expect(answer.headers["access-control-allow-credentials"]).toBe("true");
    expect(list(answer.headers["access-control-expose-headers"])).toEqual(
      expect.arrayContaining(["grpc-status", "grpc-message", "grpc-status-details-bin"]),
    );
    expect(list(answer.headers.vary)).toContain("origin");
  });

  it("an OAuth token request from an allowed origin: the answer names the origin and exposes WWW-Authenticate", async () => {
    const answer = await send(`${server.url}/oauth2/token`, "POST", { origin: CONSOLE, "content-type": "application/x-www-form-urlencoded" }, "grant_type=client_credentials");
    expect(answer.status).toBe(401);
    expect(answer.headers["access-control-allow-origin"]).toBe(CONSOLE);
    expect(list(answer.headers["access-control-expose-headers"])).toContain("www-authenticate");
  });

  it("a request from another origin is served (CORS is enforced by browsers) but gets no Access-Control-* header", async () => {
    const answer = await send(`${server.url}/.well-known/jwks.json`, "GET", { origin: EVIL });
    expect(answer.status).toBe(200);
    expect(corsHeaders(answer)).toEqual([]);
  });

  it("a request without Origin gets no Access-Control-* header", async () => {
    const answer = await send(`${server.url}/.well-known/jwks.json`, "GET", {});
    expect(corsHeaders(answer)).toEqual([]);
  });

  it("origins compare exactly: another port or scheme is another origin", async () => {
    for (const origin of ["http://app.test:3001", "https://app.test:3000", "http://console.test"]) {
      expect((await preflight(`${server.url}/oauth2/token`, origin)).status).toBe(403);
    }
  });
});

describe("with any origin (*) and no credentials", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { cors: { allowedOrigins: ["*"], allowCredentials: false } } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("answers `*` and never allows credentials", async () => {
    const answer = await preflight(`${server.url}/tokensmith.v1.TokenService/GetJwks`, EVIL);
    expect(answer.status).toBe(204);
    expect(answer.headers["access-control-allow-origin"]).toBe("*");
    expect(answer.headers["access-control-allow-credentials"]).toBeUndefined();
  });
});

describe("without a cors section (the default)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each(PATHS)("%s: no origin is allowed", async (path) => {
    const answer = await preflight(`${server.url}${path}`, APP);
    expect(answer.headers["access-control-allow-origin"]).toBeUndefined();
    const actual = await send(`${server.url}/.well-known/jwks.json`, "GET", { origin: APP });
    expect(corsHeaders(actual)).toEqual([]);
  });
});

describe("the cors configuration", () => {
  it.each([
    ["a trailing slash", ["http://app.test/"]],
    ["a path", ["http://app.test/page"]],
    ["upper case", ["http://App.test"]],
    ["no scheme", ["app.test"]],
  ])("refuses an origin with %s", (_what, allowedOrigins) => {
    expect(() => parseConfig({ cors: { allowedOrigins } })).toThrow(ConfigError);
    expect(() => parseConfig({ cors: { allowedOrigins } })).toThrow(/cors\.allowedOrigins\.0: must be an origin/);
  });

  it("refuses * with credentials", () => {
    expect(() => parseConfig({ cors: { allowedOrigins: ["*"], allowCredentials: true } })).toThrow(/allowCredentials needs explicit origins/);
  });

  it("defaults to no origin and no credentials", () => {
    expect(parseConfig({}).cors).toEqual({ allowedOrigins: [], allowCredentials: false });
  });
});
