import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import {
  assertionClaims,
  assertionForm,
  generateClientKey,
  oauthErrorOf,
  postForm,
  signAssertion,
  startHttpHost,
  startJsonHost,
  type ClientKey,
  type HttpHost,
  type JsonHost,
} from "../support/oauth.js";
import { startTestServer } from "../support/tokensmith.js";

/**
 * Issue 16, item 7: a client's jwks_uri is fetched by the server while it
 * checks an unauthenticated request, so the fetch must not be a way into the
 * operator's network or its memory. By default only https to public
 * addresses, checked after DNS resolution; redirects refused; the body
 * capped while it is read; a failed URI not fetched again at once.
 */

let key: ClientKey;
let jwksHost: JsonHost;
/** Counts connections; answers nothing useful (a TLS client gives up on it). */
let trap: HttpHost;
let redirect: HttpHost;
let endless: HttpHost & { bytesSent(): number };
let declaredHuge: HttpHost;
let failing: HttpHost;
let strict: RunningServer;
let httpOnly: RunningServer;
let open: RunningServer;
const clock = new ManualClock(Date.now());

/** A body that never ends: 16 KiB chunks as fast as the reader takes them, until it hangs up. */
async function startEndlessHost(): Promise<HttpHost & { bytesSent(): number }> {
  let sent = 0;
  const chunk = Buffer.alloc(16 * 1024, "[");
  const host = await startHttpHost((_req, res: ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json" });
    const pump = () => {
      while (!res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
    };
    pump();
  });
  return { ...host, bytesSent: () => sent };
}

const trapPort = () => new URL(trap.url).port;

beforeAll(async () => {
  key = await generateClientKey("ES256");
  jwksHost = await startJsonHost(() => ({ keys: [key.publicJwk] }));
  trap = await startHttpHost((_req, res) => res.end("{}"));
  redirect = await startHttpHost((_req, res) => {
    res.writeHead(302, { location: jwksHost.url });
    res.end();
  });
  endless = await startEndlessHost();
  declaredHuge = await startHttpHost((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": 10 * 1024 * 1024 });
    res.write("{");
  });
  failing = await startHttpHost((_req, res) => {
    res.writeHead(500);
    res.end();
  });
  const server = (clientJwksUris: ConfigInput["clientJwksUris"], clients: { id: string; jwksUri: string }[]) =>
    startTestServer({ clock, config: { clientJwksUris, clients: clients.map((client) => ({ ...client, scopes: ["orders:read"] })) } });
  [strict, httpOnly, open] = await Promise.all([
    server(undefined, [{ id: "https-localhost", jwksUri: `https://localhost:${trapPort()}/jwks.json` }]),
    server({ allowHttp: true }, [{ id: "http-localhost", jwksUri: `http://localhost:${trapPort()}/jwks.json` }]),
    server({ allowHttp: true, allowPrivateNetworks: true }, [
      { id: "good", jwksUri: jwksHost.url },
      { id: "redirect", jwksUri: redirect.url },
      { id: "endless", jwksUri: endless.url },
      { id: "declared-huge", jwksUri: declaredHuge.url },
      { id: "failing", jwksUri: failing.url },
    ]),
  ]);
});

afterAll(async () => {
  await Promise.all([strict, httpOnly, open].map((server) => server?.close()));
  await Promise.all([jwksHost, trap, redirect, endless, declaredHuge, failing].map((host) => host?.close()));
});

async function tokenFor(server: RunningServer, clientId: string, header: Record<string, unknown> = {}) {
  const assertion = await signAssertion(key, assertionClaims(clientId, server.domain.issuer, clock.now()), header);
  return postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion) });
}

async function expectInvalidClient(server: RunningServer, clientId: string, header: Record<string, unknown> = {}) {
  const result = await tokenFor(server, clientId, header);
  expect({ status: result.status, error: oauthErrorOf(result) }, result.text).toEqual({ status: 401, error: "invalid_client" });
}

describe("jwks_uri targets refused before any connection", () => {
  it("https://localhost resolves to loopback: refused after DNS resolution, never connected to", async () => {
    await expectInvalidClient(strict, "https-localhost");
    expect(trap.connections()).toBe(0);
  });

  it("with http allowed but not private networks, http://localhost is refused the same way", async () => {
    await expectInvalidClient(httpOnly, "http-localhost");
    expect(trap.connections()).toBe(0);
  });

  it.each([
    ["an http: URI", () => jwksHost.url.replace("127.0.0.1", "keys.invalid")],
    ["a loopback address written in the URI", () => `https://127.0.0.1:${trapPort()}/jwks.json`],
    ["an IPv4-mapped loopback address written in the URI", () => `https://[::ffff:127.0.0.1]:${trapPort()}/jwks.json`],
  ])("a record stored before the policy, with %s: refused at fetch time", async (_case, jwksUri) => {
    const id = `stored-${trap.connections()}-${Math.random().toString(36).slice(2, 8)}`;
    await strict.domain.clients.create({ id, secrets: [], scopes: ["orders:read"], audiences: [], tokenLifetimeSeconds: 60, jwksUri: jwksUri(), createdAt: 0 });
    await expectInvalidClient(strict, id);
    expect(trap.connections()).toBe(0);
  });
});

describe("jwks_uri responses (private networks allowed for these local hosts)", () => {
  it("control: a JWK Set served at the URI authenticates the client", async () => {
    const result = await tokenFor(open, "good");
    expect(result.status, result.text).toBe(200);
  });

  it("a redirect is refused and not followed", async () => {
    const before = jwksHost.hits();
    await expectInvalidClient(open, "redirect");
    expect(redirect.hits()).toBe(1);
    expect(jwksHost.hits()).toBe(before);
  });

  it("an endless body: the request ends with invalid_client, the fetch stops reading soon after 64 KiB, and RSS stays flat", async () => {
    const rssBefore = process.memoryUsage().rss;
    await expectInvalidClient(open, "endless");
    // Before the cap one such request took RSS from 114 to 623 MB (issue 16); the server runs in this process.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(48 * 1024 * 1024);
    // What the host managed to write is what Tokensmith read plus the loopback socket buffers, not hundreds of MB.
    expect(endless.bytesSent()).toBeGreaterThan(64 * 1024);
    expect(endless.bytesSent()).toBeLessThan(16 * 1024 * 1024);
  });

  it("a declared Content-Length over 64 KiB is refused without reading the body", async () => {
    await expectInvalidClient(open, "declared-huge");
    expect(declaredHuge.hits()).toBe(1);
  });

  it("a URI that failed is not fetched again during the cooldown", async () => {
    await expectInvalidClient(open, "failing");
    await expectInvalidClient(open, "failing");
    expect(failing.hits()).toBe(1);
  });

  it("assertions naming unknown kids refetch a good URI at most once per cooldown", async () => {
    await tokenFor(open, "good");
    const before = jwksHost.hits();
    for (const kid of ["unknown-1", "unknown-2", "unknown-3"]) await expectInvalidClient(open, "good", { kid });
    expect(jwksHost.hits() - before).toBeLessThanOrEqual(1);
  });
});
