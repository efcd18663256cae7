import type { Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClientCredentialsTokenSource,
  Code,
  ConnectError,
  createTokenClient,
  exchangeToken,
  oauthErrorOf,
  TokenExchangeSource,
  type TokenExchangeSourceOptions,
} from "../../src/client/index.js";
import { createTokenClient as createWebTokenClient, TokenExchangeSource as WebTokenExchangeSource } from "../../src/client/web.js";
import type { RunningServer } from "../../src/server.js";
import { FakeClock, failure } from "../support/token-sources.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

/**
 * The client package's token exchange (RFC 8693) against a real Tokensmith:
 * exchangeToken, one ExchangeToken call, and TokenExchangeSource, which
 * caches the exchanged token like ClientCredentialsTokenSource and exchanges
 * again when it nears expiry or when the subject token changes.
 */

const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
const HOUR = 3_600_000;

/** Holds the user's token (the subject). */
const frontend = testClient("frontend", ["orders:read", "orders:write", "profile:read"], { tokenLifetimeSeconds: 3600 });
/** Trades it for a token of its own, acting for the frontend's subject. */
const orders = testClient("orders-api", ["orders:read", "orders:write", "inventory:read"], {
  audiences: ["https://inventory.test"],
  tokenLifetimeSeconds: 3600,
  grantTypes: ["client_credentials", EXCHANGE],
});
const noExchange = testClient("no-exchange", ["orders:read"]);
const introspector = testClient("introspector", ["token:introspect"]);
let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer({ clients: [frontend, orders, noExchange, introspector] });
});

afterAll(async () => {
  await server?.close();
});

const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;

function countingClient() {
  const calls = { exchangeToken: 0 };
  const counting: Interceptor = (next) => (request) => {
    if (request.method.name === "ExchangeToken") calls.exchangeToken += 1;
    return next(request);
  };
  return { client: createTokenClient({ baseUrl: server.url, protocol: "grpc", interceptors: [counting] }), calls };
}

const frontendToken = async (scopes = ["orders:read", "orders:write", "profile:read"]) =>
  (
    await createTokenClient({ baseUrl: server.url }).issueClientToken(
      { scopes },
      { headers: { authorization: `Basic ${Buffer.from(`${frontend.id}:${frontend.secret}`).toString("base64")}` } },
    )
  ).accessToken;

function exchangeSource(options: Partial<TokenExchangeSourceOptions> & Pick<TokenExchangeSourceOptions, "subjectToken">) {
  const { client, calls } = countingClient();
  const clock = new FakeClock();
  const source = new TokenExchangeSource({ client, clientId: orders.id, clientSecret: orders.secret, clock, random: () => 0, ...options });
  return { source, clock, calls };
}

describe("exchangeToken", () => {
  it("down-scopes: the subject's sub, the scope asked, act naming the client", async () => {
    const subject = await frontendToken();
    const exchanged = await exchangeToken(createTokenClient({ baseUrl: server.url }), {
      subjectToken: subject,
      scopes: ["orders:read"],
      audience: ["https://inventory.test"],
      clientId: orders.id,
      clientSecret: orders.secret,
    });
    expect(exchanged).toEqual({ accessToken: expect.any(String), issuedTokenType: ACCESS_TOKEN, tokenType: "Bearer", expiresIn: expect.any(Number), scopes: ["orders:read"] });
    expect(exchanged.expiresIn).toBeGreaterThan(3500);
    expect(payloadOf(exchanged.accessToken)).toMatchObject({
      sub: frontend.id,
      client_id: orders.id,
      scope: "orders:read",
      aud: "https://inventory.test",
      act: { sub: orders.id, client_id: orders.id },
      parent_jti: payloadOf(subject).jti,
    });
  });

  it("without clientId/clientSecret, the client's own authorization is used; an actor token of the client itself is accepted", async () => {
    const ordersSource = new ClientCredentialsTokenSource({ client: createTokenClient({ baseUrl: server.url }), clientId: orders.id, clientSecret: orders.secret });
    const authorization = `Basic ${Buffer.from(`${orders.id}:${orders.secret}`).toString("base64")}`;
    const exchanged = await exchangeToken(createWebTokenClient({ baseUrl: server.url, authorization }), {
      subjectToken: await frontendToken(["orders:read"]),
      actorToken: await ordersSource.getToken(),
    });
    expect(exchanged.scopes).toEqual(["orders:read"]);
  });

  it("a refusal is the RPC's ConnectError with its OAuth error", async () => {
    const error = await exchangeToken(createTokenClient({ baseUrl: server.url }), {
      subjectToken: await frontendToken(),
      scopes: ["inventory:read"],
      clientId: orders.id,
      clientSecret: orders.secret,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.PermissionDenied);
    expect(oauthErrorOf(error)).toBe("invalid_scope");
  });
});

describe("TokenExchangeSource", () => {
  it("gives a down-scoped token for the subject and caches it: 20 concurrent and later calls, one RPC", async () => {
    const subject = await frontendToken();
    const { source, clock, calls } = exchangeSource({ subjectToken: subject, scopes: ["orders:read"] });
    const tokens = await Promise.all(Array.from({ length: 20 }, () => source.getToken()));
    expect(new Set(tokens).size).toBe(1);
    clock.advance(HOUR / 2);
    expect(await source.getToken()).toBe(tokens[0]);
    expect(calls.exchangeToken).toBe(1);
    expect(payloadOf(tokens[0]!)).toMatchObject({ sub: frontend.id, client_id: orders.id, scope: "orders:read" });
    const introspected = await createTokenClient({ baseUrl: server.url }).introspect(
      { token: tokens[0]! },
      { headers: { authorization: `Basic ${Buffer.from(`${introspector.id}:${introspector.secret}`).toString("base64")}` } },
    );
    expect(introspected).toMatchObject({ active: true, sub: frontend.id, clientId: orders.id, scopes: ["orders:read"] });
  });

  it("renews before expiry by the same rule as ClientCredentialsTokenSource (10% of the lifetime, jitter)", async () => {
    const { source, clock, calls } = exchangeSource({ subjectToken: await frontendToken(), random: () => 0.5 });
    const first = await source.getAccessToken();
    expect(first.refreshAt - clock.now()).toBeCloseTo((first.expiresAt - clock.now()) * 0.85, 3);
    clock.advance(first.refreshAt - clock.now() - 1);
    expect(await source.getToken()).toBe(first.accessToken);
    clock.advance(1);
    expect(await source.getToken()).not.toBe(first.accessToken);
    expect(calls.exchangeToken).toBe(2);
  });

  it("exchanges again when the subject token changes (a function, or another TokenSource, gives the current one)", async () => {
    let subject = await frontendToken();
    const { source, calls } = exchangeSource({ subjectToken: () => subject });
    const first = await source.getToken();
    expect(await source.getToken()).toBe(first);
    subject = await frontendToken(["orders:read"]);
    const second = await source.getToken();
    expect(second).not.toBe(first);
    expect(payloadOf(second)).toMatchObject({ parent_jti: payloadOf(subject).jti, scope: "orders:read" });
    expect(calls.exchangeToken).toBe(2);

    // The subject from a client-credentials source: invalidating it gives a new subject token, hence a new exchange.
    const frontendSource = new ClientCredentialsTokenSource({ client: createTokenClient({ baseUrl: server.url }), clientId: frontend.id, clientSecret: frontend.secret });
    const chained = exchangeSource({ subjectToken: frontendSource });
    const one = await chained.source.getToken();
    expect(await chained.source.getToken()).toBe(one);
    frontendSource.invalidate();
    expect(await chained.source.getToken()).not.toBe(one);
    expect(chained.calls.exchangeToken).toBe(2);
  });

  it("a client not registered for token exchange: TokenSourceError, PermissionDenied, unauthorized_client; the next call tries again", async () => {
    const { source, calls } = exchangeSource({ subjectToken: await frontendToken(), clientId: noExchange.id, clientSecret: noExchange.secret });
    const errors = await Promise.all(Array.from({ length: 3 }, () => failure(source.getToken())));
    expect(new Set(errors).size).toBe(1);
    expect(errors[0]).toMatchObject({ name: "TokenSourceError", code: Code.PermissionDenied, oauthError: "unauthorized_client" });
    await failure(source.getToken());
    expect(calls.exchangeToken).toBe(2);
  });

  it("a subject that cannot be had: its TokenSourceError as it is", async () => {
    const frontendSource = new ClientCredentialsTokenSource({ client: createTokenClient({ baseUrl: server.url }), clientId: frontend.id, clientSecret: "wrong" });
    const { source, calls } = exchangeSource({ subjectToken: frontendSource });
    expect(await failure(source.getToken())).toMatchObject({ code: Code.Unauthenticated, oauthError: "invalid_client" });
    expect(calls.exchangeToken).toBe(0);
  });

  it("is exported by the web entry too and works on connect-web", async () => {
    const source = new WebTokenExchangeSource({
      client: createWebTokenClient({ baseUrl: server.url }),
      clientId: orders.id,
      clientSecret: orders.secret,
      subjectToken: await frontendToken(),
      scopes: ["orders:write"],
    });
    expect((await source.getAccessToken()).scopes).toEqual(["orders:write"]);
  });
});
