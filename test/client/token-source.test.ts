import type { Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearerTokenInterceptor,
  ClientCredentialsTokenSource,
  Code,
  createTokenClient,
  refreshTimeOf,
  type ClientCredentialsTokenSourceOptions,
} from "../../src/client/index.js";
import { createTokenClient as createWebTokenClient } from "../../src/client/web.js";
import type { RunningServer } from "../../src/server.js";
import { FakeClock, failure } from "../support/token-sources.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

/**
 * ClientCredentialsTokenSource against a real Tokensmith: one token per
 * lifetime, renewed before expiry (by a fake clock, so no waiting), one
 * request however many callers ask at once, and failures typed with the
 * OAuth error code.
 */

const HOUR = 3_600_000;
const orders = testClient("orders-service", ["orders:read", "orders:write"]);
const shortLived = testClient("short-lived", ["orders:read"], { tokenLifetimeSeconds: 60 });
const resourceServer = testClient("resource-server", ["token:introspect"]);
let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer({ clients: [orders, shortLived, resourceServer] });
});

afterAll(async () => {
  await server?.close();
});

/** A token source on a gRPC client that counts the IssueClientToken calls it makes. */
function tokenSource(options: Partial<ClientCredentialsTokenSourceOptions> & { baseUrl?: string } = {}) {
  const calls = { issueClientToken: 0 };
  const counting: Interceptor = (next) => (request) => {
    if (request.method.name === "IssueClientToken") calls.issueClientToken += 1;
    return next(request);
  };
  const clock = new FakeClock();
  const { baseUrl = server.url, ...rest } = options;
  const source = new ClientCredentialsTokenSource({
    client: createTokenClient({ baseUrl, protocol: "grpc", interceptors: [counting] }),
    clientId: orders.id,
    clientSecret: orders.secret,
    clock,
    random: () => 0,
    ...rest,
  });
  return { source, clock, calls };
}

const jtiOf = (token: string) => (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { jti: string }).jti;

describe("caching", () => {
  it("fetches once and serves the cached token while it is fresh", async () => {
    const { source, clock, calls } = tokenSource();
    const first = await source.getToken();
    clock.advance(HOUR / 2);
    expect(await source.getToken()).toBe(first);
    expect(calls.issueClientToken).toBe(1);
  });

  it("20 concurrent getToken() calls make exactly one RPC and all get the same token", async () => {
    const { source, calls } = tokenSource();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => source.getToken()));
    expect(calls.issueClientToken).toBe(1);
    expect(new Set(tokens).size).toBe(1);
  });

  it("concurrent callers during a renewal share the one renewal too", async () => {
    const { source, clock, calls } = tokenSource();
    const first = await source.getToken();
    clock.advance(HOUR);
    const renewed = await Promise.all(Array.from({ length: 20 }, () => source.getToken()));
    expect(calls.issueClientToken).toBe(2);
    expect(new Set(renewed).size).toBe(1);
    expect(renewed[0]).not.toBe(first);
  });

  it("describes the token: type, scopes, expiry and next refresh by the source's clock", async () => {
    const { source, clock } = tokenSource({ scopes: ["orders:read"] });
    const startedAt = clock.now();
    expect(await source.getAccessToken()).toMatchObject({
      tokenType: "Bearer",
      scopes: ["orders:read"],
      expiresAt: startedAt + HOUR,
      refreshAt: startedAt + HOUR - 360_000,
    });
  });

  it("invalidate() makes the next call fetch a new token", async () => {
    const { source, calls } = tokenSource();
    const first = await source.getToken();
    source.invalidate();
    expect(await source.getToken()).not.toBe(first);
    expect(calls.issueClientToken).toBe(2);
  });
});

describe("renewal before expiry", () => {
  it("a 1 h token is renewed once less than 10% of its lifetime (6 min) remains", async () => {
    const { source, clock, calls } = tokenSource();
    const first = await source.getToken();
    clock.advance(HOUR - 360_000 - 1);
    expect(await source.getToken()).toBe(first);
    clock.advance(1);
    const second = await source.getToken();
    expect(jtiOf(second)).not.toBe(jtiOf(first));
    expect(calls.issueClientToken).toBe(2);
  });

  it("the jitter brings the renewal forward by up to 10% of the lifetime", async () => {
    const { source, clock, calls } = tokenSource({ random: () => 0.5 });
    const first = await source.getToken();
    clock.advance(HOUR - 360_000 - 180_000 - 1);
    expect(await source.getToken()).toBe(first);
    clock.advance(1);
    expect(await source.getToken()).not.toBe(first);
    expect(calls.issueClientToken).toBe(2);
  });

  it("a 60 s token is renewed when 30 s remain (the floor), minus its jitter", async () => {
    const { source, clock, calls } = tokenSource({ clientId: shortLived.id, clientSecret: shortLived.secret, random: () => 1 });
    const first = await source.getAccessToken();
    expect(first.expiresAt - clock.now()).toBe(60_000);
    clock.advance(24_000 - 1);
    expect((await source.getAccessToken()).accessToken).toBe(first.accessToken);
    clock.advance(1);
    expect((await source.getAccessToken()).accessToken).not.toBe(first.accessToken);
    expect(calls.issueClientToken).toBe(2);
  });

  it.each([
    // lifetime, random, renewal after (all in ms)
    [HOUR, 0, HOUR - 360_000],
    [HOUR, 1, HOUR - 360_000 - 360_000],
    [600_000, 0, 540_000],
    [120_000, 0, 90_000],
    [120_000, 1, 78_000],
    [60_000, 0, 30_000],
    // Under a minute the 30 s floor would leave nothing: the margin is capped at half the lifetime.
    [20_000, 0, 10_000],
    [20_000, 1, 8_000],
  ])("refreshTimeOf: a %d ms token with jitter %d is renewed %d ms after it was asked for", (lifetime, random, after) => {
    expect(refreshTimeOf(1_000, lifetime, random)).toBe(1_000 + after);
  });
});

describe("errors carry the RPC code and the OAuth error", () => {
  it("a wrong secret: Unauthenticated, invalid_client; the next call tries again", async () => {
    const { source, calls } = tokenSource({ clientSecret: "wrong" });
    const error = await failure(source.getToken());
    expect(error).toMatchObject({ name: "TokenSourceError", code: Code.Unauthenticated, oauthError: "invalid_client" });
    expect(error.message).toBe("cannot get an access token: client authentication failed");
    await failure(source.getToken());
    expect(calls.issueClientToken).toBe(2);
  });

  it("concurrent callers of a failing request share its one failure", async () => {
    const { source, calls } = tokenSource({ clientSecret: "wrong" });
    const errors = await Promise.all(Array.from({ length: 5 }, () => failure(source.getToken())));
    expect(calls.issueClientToken).toBe(1);
    expect(new Set(errors).size).toBe(1);
  });

  it("a scope the client may not have: PermissionDenied, invalid_scope", async () => {
    const { source } = tokenSource({ scopes: ["billing:read"] });
    expect(await failure(source.getToken())).toMatchObject({ code: Code.PermissionDenied, oauthError: "invalid_scope" });
  });

  it("no server at all: Unavailable without an OAuth error", async () => {
    const { source } = tokenSource({ baseUrl: "http://127.0.0.1:1" });
    expect(await failure(source.getToken())).toMatchObject({ code: Code.Unavailable, oauthError: undefined });
  });

  it("misuse is a TypeError", () => {
    const client = createTokenClient({ baseUrl: server.url });
    expect(() => new ClientCredentialsTokenSource({ client, clientId: "", clientSecret: "x" })).toThrow(TypeError);
    expect(() => new ClientCredentialsTokenSource({ client, clientId: "x", clientSecret: "" })).toThrow(TypeError);
  });
});

describe("using the token", () => {
  it("bearerTokenInterceptor sends it as Bearer: a resource server introspects with its own token", async () => {
    const source = new ClientCredentialsTokenSource({
      client: createTokenClient({ baseUrl: server.url }),
      clientId: resourceServer.id,
      clientSecret: resourceServer.secret,
    });
    const introspecting = createTokenClient({ baseUrl: server.url, protocol: "grpc", interceptors: [bearerTokenInterceptor(source)] });
    const { source: ordersSource } = tokenSource();
    const result = await introspecting.introspect({ token: await ordersSource.getToken() });
    expect(result).toMatchObject({ active: true, clientId: orders.id });
  });

  it("works the same on the browser client (connect on fetch)", async () => {
    const source = new ClientCredentialsTokenSource({
      client: createWebTokenClient({ baseUrl: server.url }),
      clientId: orders.id,
      clientSecret: orders.secret,
      scopes: ["orders:write"],
    });
    expect((await source.getAccessToken()).scopes).toEqual(["orders:write"]);
  });
});
