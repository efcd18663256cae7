import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import { oauthErrorOf, postForm, type FormInput, type HttpResult } from "../support/oauth.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports, type TestClient } from "../support/tokensmith.js";

/**
 * POST /oauth2/introspect (RFC 7662) and POST /oauth2/revoke (RFC 7009),
 * with the same rules as the Introspect and Revoke RPCs.
 */

// token:introspect: they introspect tokens in the tests of the endpoint's answers.
const orders = testClient("orders-service", ["orders:read", "orders:write", "token:introspect"]);
const billing = testClient("billing-service", ["billing:read", "token:introspect"], { audiences: ["https://api.billing.test", "https://api.ledger.test"] });
const shortLived = testClient("short-lived", ["orders:read"], { tokenLifetimeSeconds: 60 });
/** May hold a Bearer token for introspection, and (separately) one for revocation. */
const operator = testClient("operator", ["token:introspect", "token:delete", "ops:read"]);
/** A valid client that may not introspect. */
const reader = testClient("reader", ["b:read"]);
const clients: TestClient[] = [orders, billing, shortLived, operator, reader];
const apiKey = generateSecret("api_key");
const otherApiKey = generateSecret("api_key");
const apiKeys = [
  { name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] },
  { name: "other-backend", keyHash: hashSecret(otherApiKey), scopes: ["passkey:read"] },
];

const INACTIVE = '{"active":false}';

let clock: ManualClock;
let server: RunningServer;
let other: RunningServer;
let introspectUrl: string;
let revokeUrl: string;

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  [server, other] = await Promise.all([startTestServer({ clients, clock, config: { apiKeys } }), startTestServer({ clients })]);
  introspectUrl = `${server.url}/oauth2/introspect`;
  revokeUrl = `${server.url}/oauth2/revoke`;
});

afterAll(async () => {
  await Promise.all([server?.close(), other?.close()]);
});

async function issue(client: TestClient, scope?: string, target: RunningServer = server): Promise<string> {
  const result = await postForm(
    `${target.url}/oauth2/token`,
    { grant_type: "client_credentials", ...(scope ? { scope } : {}) },
    basic(client.id, client.secret),
  );
  expect(result.status, result.text).toBe(200);
  return (result.json as { access_token: string }).access_token;
}

const as = (client: TestClient) => basic(client.id, client.secret);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const introspect = (form: FormInput, headers: Record<string, string> = {}) => postForm(introspectUrl, form, headers);
const revoke = (form: FormInput, headers: Record<string, string> = {}) => postForm(revokeUrl, form, headers);

function expectOAuthError(result: HttpResult, status: number, error: string): void {
  expect({ status: result.status, error: oauthErrorOf(result) }, result.text).toEqual({ status, error });
  expect(result.headers.get("cache-control")).toBe("no-store");
}

function expectInactive(result: HttpResult): void {
  expect(result.status).toBe(200);
  expect(result.text).toBe(INACTIVE);
  expect(result.headers.get("content-type")).toMatch(/^application\/json/);
  expect(result.headers.get("cache-control")).toBe("no-store");
}

async function isActive(token: string): Promise<boolean> {
  const result = await introspect({ token }, as(operator));
  expect(result.status, result.text).toBe(200);
  return (result.json as { active: boolean }).active;
}

describe("POST /oauth2/introspect: refused callers and requests", () => {
  it("no caller authentication: 401 invalid_client with WWW-Authenticate", async () => {
    const token = await issue(orders);
    const result = await introspect({ token });
    expectOAuthError(result, 401, "invalid_client");
    expect(result.headers.get("www-authenticate")).toMatch(/^Basic realm="[^"]+"/);
  });

  it.each([
    ["a wrong Basic secret", () => ({ form: {}, headers: basic(orders.id, `${orders.secret}x`) })],
    ["an unknown Basic client", () => ({ form: {}, headers: basic("nobody", orders.secret) })],
    ["a wrong client_secret_post secret", () => ({ form: { client_id: orders.id, client_secret: "tks_cs_wrong" }, headers: {} })],
  ])("%s: 401 invalid_client", async (_case, build) => {
    const token = await issue(orders);
    const { form, headers } = build();
    const result = await introspect({ token, ...form }, headers);
    expectOAuthError(result, 401, "invalid_client");
    expect(result.text).not.toContain(token);
  });

  it("Basic with a wrong secret: WWW-Authenticate names the Basic scheme and a realm", async () => {
    const result = await introspect({ token: "x" }, basic(orders.id, "wrong"));
    expect(result.headers.get("www-authenticate")).toMatch(/^Basic realm="[^"]+"/);
  });

  it("a Bearer token without token:introspect: 403 insufficient_scope", async () => {
    const caller = await issue(operator, "ops:read token:delete");
    const result = await introspect({ token: await issue(orders) }, bearer(caller));
    expectOAuthError(result, 403, "insufficient_scope");
  });

  it.each([
    ["garbage", async () => "not-a-token"],
    ["signed by another Tokensmith", async () => issue(operator, "token:introspect", other)],
    [
      "revoked",
      async () => {
        const token = await issue(operator, "token:introspect");
        expect((await revoke({ token }, as(operator))).status).toBe(200);
        return token;
      },
    ],
  ])("a Bearer caller token that is %s: 401 with WWW-Authenticate: Bearer", async (_case, callerToken) => {
    const result = await introspect({ token: await issue(orders) }, bearer(await callerToken()));
    expect(result.status).toBe(401);
    expect(oauthErrorOf(result)).toMatch(/^invalid_(client|token)$/);
    expect(result.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  it.each([
    ["the token parameter is missing", { token_type_hint: "access_token" }],
    ["the token parameter is empty", { token: "" }],
    ["the token parameter is repeated", [["token", "a"], ["token", "b"]] as [string, string][]],
  ])("%s: 400 invalid_request", async (_case, form) => {
    expectOAuthError(await introspect(form, as(operator)), 400, "invalid_request");
  });

  it("a JSON body: 400 invalid_request", async () => {
    const result = await introspect(JSON.stringify({ token: "x" }), { ...as(operator), "content-type": "application/json" });
    expectOAuthError(result, 400, "invalid_request");
  });

  it("a GET: 405", async () => {
    const response = await fetch(`${introspectUrl}?token=x`, { headers: as(operator) });
    await response.body?.cancel();
    expect(response.status).toBe(405);
  });
});

describe("POST /oauth2/introspect: anything not currently valid is exactly {\"active\":false}", () => {
  it.each([
    ["an unknown string", async () => "no-such-token"],
    ["a malformed JWT", async () => "a.b.c"],
    ["a string of 8193 characters", async () => "x".repeat(8193)],
    ["an unknown grant", async () => `tks_gr_${"A".repeat(49)}`],
    ["a token of another Tokensmith (unknown key, other issuer)", async () => issue(orders, undefined, other)],
    [
      "a token whose claims were altered after signing",
      async () => {
        const [header, payload, signature] = (await issue(orders, "orders:read")).split(".");
        const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString());
        claims.scope = "orders:read orders:write";
        return `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
      },
    ],
    [
      "a copy of a real token with alg none and no signature",
      async () => {
        const [, payload] = (await issue(orders)).split(".");
        return `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url")}.${payload}.`;
      },
    ],
  ])("%s", async (_case, token) => {
    expectInactive(await introspect({ token: await token() }, as(operator)));
  });

  it("a token revoked by its client", async () => {
    const token = await issue(orders);
    expect((await revoke({ token }, as(orders))).status).toBe(200);
    expectInactive(await introspect({ token }, as(operator)));
  });

  it("an expired token (the clock moved past exp), though it was active just before", async () => {
    const token = await issue(shortLived);
    clock.advance(59_000);
    expect(await isActive(token)).toBe(true);
    clock.advance(1_000);
    expectInactive(await introspect({ token }, as(operator)));
  });
});

describe("POST /oauth2/introspect: active tokens", () => {
  it("answers the RFC 7662 members, equal to the token's claims, uncached", async () => {
    const token = await issue(orders, "orders:read");
    const claims = decodeJwt(token);
    const result = await introspect({ token }, as(orders));
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get("cache-control")).toBe("no-store");
    const body = result.json as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["active", "aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sub", "token_type", "token_use"]);
    expect(body).toMatchObject({
      active: true,
      scope: "orders:read",
      client_id: orders.id,
      sub: orders.id,
      aud: server.domain.issuer,
      iss: server.domain.issuer,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
    });
  });

  it("reports token_type as an RFC 6749 §5.1 token type (Bearer), as RFC 7662 §2.2 defines it", async () => {
    const body = (await introspect({ token: await issue(orders) }, as(orders))).json as Record<string, unknown>;
    expect(String(body.token_type).toLowerCase()).toBe("bearer");
  });

  it("lists several audiences as an array", async () => {
    const body = (await introspect({ token: await issue(billing) }, as(billing))).json as Record<string, unknown>;
    expect(body.aud).toEqual(billing.audiences);
  });

  it.each([
    ["another client, by Basic", () => as(billing), {}],
    ["a client by client_secret_post", () => ({}), { client_id: billing.id, client_secret: billing.secret }],
  ])("may be introspected by %s", async (_case, headers, form) => {
    const result = await introspect({ token: await issue(orders), ...form }, headers());
    expect(result.json).toMatchObject({ active: true, client_id: orders.id });
  });

  it("may be introspected with a Bearer token holding token:introspect", async () => {
    const caller = await issue(operator, "token:introspect");
    const result = await introspect({ token: await issue(orders) }, bearer(caller));
    expect(result.status, result.text).toBe(200);
    expect(result.json).toMatchObject({ active: true, client_id: orders.id });
  });

  it("ignores a token_type_hint that does not fit (RFC 7662 §2.1: the search extends to every type)", async () => {
    const result = await introspect({ token: await issue(orders), token_type_hint: "refresh_token" }, as(operator));
    expect(result.json).toMatchObject({ active: true });
  });
});

/** Issue 16, item 4: any client introspected every token, grants and their usernames included. */
describe("POST /oauth2/introspect: who may introspect what", () => {
  const grantOf = async (key: string) =>
    (await tokenClient(transports["connect JSON (HTTP/1.1)"](server.url)).issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuth(key) })).token;

  it.each([
    ["by Basic", () => ({ headers: as(reader), form: {} })],
    ["by client_secret_post", () => ({ headers: {}, form: { client_id: reader.id, client_secret: reader.secret } })],
  ])("a client without token:introspect (%s): 403 insufficient_scope, for an access token and for a grant, and no claim leaks", async (_case, build) => {
    const { headers, form } = build();
    for (const token of [await issue(orders), await grantOf(apiKey)]) {
      const result = await introspect({ token, ...form }, headers);
      expectOAuthError(result, 403, "insufficient_scope");
      expect(result.headers.get("www-authenticate")).toBeNull();
      expect(result.text).not.toMatch(/alice|orders-service|"active"/);
    }
  });

  it("an API key introspects the grant it asked for: active, with its username", async () => {
    const result = await introspect({ token: await grantOf(apiKey) }, apiKeyAuth(apiKey));
    expect(result.status, result.text).toBe(200);
    expect(result.json).toMatchObject({ active: true, username: "alice", client_id: "backend", token_use: "grant" });
  });

  it.each([
    ["another API key's grant", () => grantOf(otherApiKey)],
    ["an access token", () => issue(orders)],
  ])("an API key introspecting %s: exactly {\"active\":false}", async (_case, make) => {
    const token = await make();
    expectInactive(await introspect({ token }, apiKeyAuth(apiKey)));
    expect(await isActive(token)).toBe(true);
  });

  it("an unknown API key: 401 invalid_client with WWW-Authenticate: Basic", async () => {
    const result = await introspect({ token: await grantOf(apiKey) }, apiKeyAuth(generateSecret("api_key")));
    expectOAuthError(result, 401, "invalid_client");
    expect(result.headers.get("www-authenticate")).toMatch(/^Basic realm="[^"]+"/);
  });
});

describe("POST /oauth2/revoke: refused callers and requests", () => {
  it("no caller authentication: 401 invalid_client, and the token stays active", async () => {
    const token = await issue(orders);
    expectOAuthError(await revoke({ token }), 401, "invalid_client");
    expect(await isActive(token)).toBe(true);
  });

  it("a wrong Basic secret: 401 invalid_client with WWW-Authenticate: Basic, and the token stays active", async () => {
    const token = await issue(orders);
    const result = await revoke({ token }, basic(orders.id, `${orders.secret}x`));
    expectOAuthError(result, 401, "invalid_client");
    expect(result.headers.get("www-authenticate")).toMatch(/^Basic realm="[^"]+"/);
    expect(await isActive(token)).toBe(true);
  });

  it("a Bearer token without token:delete: 403 insufficient_scope, and the token stays active", async () => {
    const token = await issue(orders);
    const result = await revoke({ token }, bearer(await issue(operator, "token:introspect")));
    expectOAuthError(result, 403, "insufficient_scope");
    expect(await isActive(token)).toBe(true);
  });

  it.each(["refresh_token", "id_token"])("token_type_hint=%s: 400 unsupported_token_type (RFC 7009 §2.2.1)", async (hint) => {
    const token = await issue(orders);
    expectOAuthError(await revoke({ token, token_type_hint: hint }, as(orders)), 400, "unsupported_token_type");
    expect(await isActive(token)).toBe(true);
  });

  it.each([
    ["the token parameter is missing", {}],
    ["the token parameter is empty", { token: "" }],
    ["the token parameter is repeated", [["token", "a"], ["token", "b"]] as [string, string][]],
  ])("%s: 400 invalid_request", async (_case, form) => {
    expectOAuthError(await revoke(form, as(orders)), 400, "invalid_request");
  });

  it("a GET: 405", async () => {
    const response = await fetch(`${revokeUrl}?token=x`, { headers: as(orders) });
    await response.body?.cancel();
    expect(response.status).toBe(405);
  });
});

describe("POST /oauth2/revoke: revocation", () => {
  it("by the client the token was issued to: 200, an empty body, and the token is inactive", async () => {
    const token = await issue(orders);
    const result = await revoke({ token }, as(orders));
    expect(result.status).toBe(200);
    expect(result.text).toBe("");
    expect(result.headers.get("cache-control")).toBe("no-store");
    expectInactive(await introspect({ token }, as(operator)));
  });

  it("an acknowledged revoke is an access_token_revoked entry of the change feed", async () => {
    const token = await issue(orders);
    const { jti, exp } = decodeJwt(token) as { jti: string; exp: number };
    const before = await server.domain.feed.read(undefined, 10_000);
    expect((await revoke({ token }, as(orders))).status).toBe(200);
    expect((await server.domain.feed.read(before.next, 10)).entries.map((entry) => entry.event)).toEqual([{ type: "access_token_revoked", jti, exp }]);
  });

  it.each([
    ["client_secret_post", () => ({}), { client_id: orders.id, client_secret: orders.secret }],
    ["Basic with token_type_hint=access_token", () => as(orders), { token_type_hint: "access_token" }],
  ])("by the owning client with %s", async (_case, headers, form) => {
    const token = await issue(orders);
    expect((await revoke({ token, ...form }, headers())).status).toBe(200);
    expect(await isActive(token)).toBe(false);
  });

  it("by another client: 200, and nothing changes", async () => {
    const token = await issue(orders);
    const result = await revoke({ token }, as(billing));
    expect(result.status).toBe(200);
    expect(result.text).toBe("");
    expect(await isActive(token)).toBe(true);
  });

  it("by a Bearer token holding token:delete, for any client's token", async () => {
    const token = await issue(orders);
    const caller = await issue(operator, "token:delete");
    expect((await revoke({ token }, bearer(caller))).status).toBe(200);
    expect(await isActive(token)).toBe(false);
  });

  it("a revoked token no longer authenticates as a Bearer caller", async () => {
    const caller = await issue(operator, "token:introspect");
    expect((await introspect({ token: "x" }, bearer(caller))).status).toBe(200);
    expect((await revoke({ token: caller }, as(operator))).status).toBe(200);
    expect((await introspect({ token: "x" }, bearer(caller))).status).toBe(401);
  });

  it.each([
    ["an unknown token", async () => "no-such-token"],
    ["a malformed JWT", async () => "a.b.c"],
    ["a token of another Tokensmith", async () => issue(orders, undefined, other)],
    [
      "an already revoked token",
      async () => {
        const token = await issue(orders);
        expect((await revoke({ token }, as(orders))).status).toBe(200);
        return token;
      },
    ],
  ])("of %s: 200 with an empty body", async (_case, token) => {
    const result = await revoke({ token: await token() }, as(orders));
    expect(result.status).toBe(200);
    expect(result.text).toBe("");
  });

  it("of an expired token: 200", async () => {
    const token = await issue(shortLived);
    clock.advance(61_000);
    const result = await revoke({ token }, as(shortLived));
    expect(result.status).toBe(200);
    expect(result.text).toBe("");
  });
});

describe("the HTTP endpoints and the RPCs share one revocation set", () => {
  const rpc = () => tokenClient(transports["connect JSON (HTTP/1.1)"](server.url));

  it("a token revoked over HTTP is inactive to the Introspect RPC", async () => {
    const token = await issue(orders);
    expect((await rpc().introspect({ token }, { headers: as(operator) })).active).toBe(true);
    expect((await revoke({ token }, as(orders))).status).toBe(200);
    expect((await rpc().introspect({ token }, { headers: as(operator) })).active).toBe(false);
  });

  it("a token revoked by the Revoke RPC is inactive to POST /oauth2/introspect", async () => {
    const token = await issue(orders);
    await rpc().revoke({ token }, { headers: as(orders) });
    expectInactive(await introspect({ token }, as(operator)));
  });
});
