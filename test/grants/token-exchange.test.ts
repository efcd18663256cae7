import { Code, type Transport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { hashSecret } from "../../src/domain/secret-format.js";
import { randomId } from "../../src/domain/random-id.js";
import { BACKENDS, decodeJwt, useAdminServer } from "../support/admin.js";
import { oauthErrorOf, postForm, type HttpResult } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient, tokenClient, transports, type TestClient } from "../support/tokensmith.js";

/**
 * Issue 20, item 2: RFC 8693 token exchange at /oauth2/token and over
 * TokenService.ExchangeToken. A client registered for the grant type presents
 * a Tokensmith access token of its tenant (the subject) and gets one for
 * itself: the subject's `sub`, scopes within both the subject's and its own,
 * an audience it may target, a lifetime within the subject's, and an `act`
 * claim naming it, with the subject's own `act` nested inside (§4.1).
 */

const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
const JWT = "urn:ietf:params:oauth:token-type:jwt";

const admin = testClient("admin", ["tokensmith:admin"]);
/** Where the user's call comes in: it holds the subject tokens. */
const frontend = testClient("frontend", ["orders:read", "orders:write", "profile:read"], { audiences: ["https://orders.test"], tokenLifetimeSeconds: 100 });
const orders = testClient("orders-api", ["orders:read", "orders:write", "inventory:read"], {
  audiences: ["https://inventory.test", "https://billing.test"],
  tokenLifetimeSeconds: 600,
  grantTypes: ["client_credentials", EXCHANGE],
});
const inventory = testClient("inventory-api", ["orders:read", "inventory:read"], {
  audiences: ["https://warehouse.test"],
  tokenLifetimeSeconds: 30,
  grantTypes: [EXCHANGE, "client_credentials"],
});
const noExchange = testClient("no-exchange", ["orders:read"]);
const introspector = testClient("introspector", ["token:introspect"]);

const actor = (id: string, inner?: object) => ({ sub: id, client_id: id, ...(inner ? { act: inner } : {}) });

describe.each(BACKENDS)("token exchange (RFC 8693) on %s", (_name, makeBackend) => {
  const t = useAdminServer(makeBackend, {
    admin,
    clients: [frontend, orders, inventory, noExchange, introspector],
    config: {
      maxTokenLifetimeSeconds: 600,
      tenants: [{ id: "acme", clients: [{ id: "acme-frontend", secretHashes: [hashSecret(frontend.secret)], scopes: ["orders:read"] }] }],
    },
  });

  const subjectToken = async (scopes = ["orders:read", "orders:write", "profile:read"]) =>
    (await t().tokens.issueClientToken({ scopes }, { headers: basic(frontend.id, frontend.secret) })).accessToken;

  function exchange(client: TestClient, form: Record<string, string | string[]>): Promise<HttpResult> {
    const pairs: [string, string][] = [["grant_type", EXCHANGE]];
    for (const [name, value] of Object.entries(form)) for (const one of [value].flat()) pairs.push([name, one]);
    return postForm(`${t().server.url}/oauth2/token`, pairs, basic(client.id, client.secret));
  }

  const refusal = (result: HttpResult) => ({ status: result.status, error: oauthErrorOf(result) });

  it("RFC 8693 §2.3 (Appendix A.1 adapted): the issued token is the subject's, acted by the client, for the resource asked", async () => {
    const subject = await subjectToken();
    const result = await exchange(orders, { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: "https://inventory.test", scope: "orders:read" });
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get("cache-control")).toBe("no-store");
    const body = result.json as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "issued_token_type", "scope", "token_type"]);
    expect(body).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: "Bearer", scope: "orders:read", expires_in: 100 });
    const { header, payload } = decodeJwt(body.access_token as string);
    expect(header.typ).toBe("at+jwt");
    const parent = decodeJwt(subject).payload;
    expect(payload).toMatchObject({
      iss: t().server.domain.issuer,
      sub: frontend.id,
      client_id: orders.id,
      aud: "https://inventory.test",
      scope: "orders:read",
      act: actor(orders.id),
      parent_jti: parent.jti,
    });
    expect(payload.jti).not.toBe(parent.jti);
    expect(payload.exp).toBe(parent.exp);
  });

  it("a subject_token_type of urn:ietf:params:oauth:token-type:jwt is accepted too; no scope asked: the subject's scopes that the client may have", async () => {
    const result = await exchange(orders, { subject_token: await subjectToken(), subject_token_type: JWT });
    expect(result.status, result.text).toBe(200);
    const body = result.json as Record<string, unknown>;
    expect(body.scope).toBe("orders:read orders:write");
    // No audience asked: the client's own, as for client credentials.
    expect(decodeJwt(body.access_token as string).payload.aud).toEqual(["https://inventory.test", "https://billing.test"]);
  });

  it("down-scoping: a scope the subject token lacks, or the client may not have, is invalid_scope", async () => {
    const subject = await subjectToken(["orders:read"]);
    // inventory:read: the client may have it, the subject token has not.
    expect(refusal(await exchange(orders, { subject_token: subject, subject_token_type: ACCESS_TOKEN, scope: "orders:read inventory:read" }))).toEqual({
      status: 400,
      error: "invalid_scope",
    });
    // profile:read: the subject has it, the client may not.
    const wide = await subjectToken();
    expect(refusal(await exchange(orders, { subject_token: wide, subject_token_type: ACCESS_TOKEN, scope: "profile:read" }))).toEqual({
      status: 400,
      error: "invalid_scope",
    });
  });

  it("an audience or resource the client may not target is invalid_target", async () => {
    const subject = await subjectToken();
    const targets: Record<string, string | string[]>[] = [
      { audience: "https://warehouse.test" },
      { resource: "https://orders.test" },
      { resource: ["https://inventory.test", "https://evil.test"] },
    ];
    for (const form of targets) {
      expect(refusal(await exchange(orders, { subject_token: subject, subject_token_type: ACCESS_TOKEN, ...form })), JSON.stringify(form)).toEqual({
        status: 400,
        error: "invalid_target",
      });
    }
  });

  it("a client not registered for token exchange is unauthorized_client, even with a good subject token", async () => {
    const result = await exchange(noExchange, { subject_token: await subjectToken(), subject_token_type: ACCESS_TOKEN });
    expect(refusal(result)).toEqual({ status: 400, error: "unauthorized_client" });
  });

  it("a wrong client secret is invalid_client (401), before the subject token is looked at", async () => {
    const result = await exchange({ ...orders, secret: "tks_cs_wrong" }, { subject_token: "not-a-token", subject_token_type: ACCESS_TOKEN });
    expect(refusal(result)).toEqual({ status: 401, error: "invalid_client" });
  });

  it.each([
    ["no subject_token", { subject_token_type: ACCESS_TOKEN }],
    ["no subject_token_type", { subject_token: "x" }],
    ["an unsupported subject_token_type", { subject_token: "x", subject_token_type: "urn:ietf:params:oauth:token-type:id_token" }],
    ["an actor_token without actor_token_type", { subject_token: "x", subject_token_type: ACCESS_TOKEN, actor_token: "y" }],
    ["an actor_token_type without actor_token", { subject_token: "x", subject_token_type: ACCESS_TOKEN, actor_token_type: ACCESS_TOKEN }],
    ["an unsupported requested_token_type", { subject_token: "x", subject_token_type: ACCESS_TOKEN, requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token" }],
  ])("%s: invalid_request", async (_case, form) => {
    expect(refusal(await exchange(orders, form))).toEqual({ status: 400, error: "invalid_request" });
  });

  it("a chain of three services: act nested two deep (RFC 8693 §4.1), and introspection reports it", async () => {
    const subject = await subjectToken();
    const first = await exchange(orders, { subject_token: subject, subject_token_type: ACCESS_TOKEN, audience: "https://inventory.test", scope: "orders:read" });
    const ordersToken = (first.json as { access_token: string }).access_token;
    const second = await exchange(inventory, { subject_token: ordersToken, subject_token_type: ACCESS_TOKEN, audience: "https://warehouse.test" });
    expect(second.status, second.text).toBe(200);
    const inventoryToken = (second.json as { access_token: string; scope: string }).access_token;
    expect((second.json as { scope: string }).scope).toBe("orders:read");
    const { payload } = decodeJwt(inventoryToken);
    expect(payload).toMatchObject({ sub: frontend.id, client_id: inventory.id, aud: "https://warehouse.test", parent_jti: decodeJwt(ordersToken).payload.jti });
    expect(payload.act).toEqual(actor(inventory.id, actor(orders.id)));

    const introspected = await postForm(`${t().server.url}/oauth2/introspect`, { token: inventoryToken }, basic(introspector.id, introspector.secret));
    expect(introspected.json).toMatchObject({ active: true, sub: frontend.id, client_id: inventory.id, act: actor(inventory.id, actor(orders.id)) });
    const rpc = await t().tokens.introspect({ token: inventoryToken }, { headers: basic(introspector.id, introspector.secret) });
    expect(rpc.act).toMatchObject({ sub: inventory.id, clientId: inventory.id, act: { sub: orders.id, clientId: orders.id } });
    expect(rpc.act?.act?.act).toBeUndefined();
    // A token without an actor has none in either.
    const plain = await postForm(`${t().server.url}/oauth2/introspect`, { token: subject }, basic(introspector.id, introspector.secret));
    expect(plain.json).not.toHaveProperty("act");
    expect((await t().tokens.introspect({ token: subject }, { headers: basic(introspector.id, introspector.secret) })).act).toBeUndefined();
  });

  // Item 4: an exchanged token lives no longer than the tokens it was exchanged for.
  it("revoking the root ends the whole chain; revoking a link ends what was exchanged for it, not what it came from", async () => {
    const root = await subjectToken();
    const middle = (await exchange(orders, { subject_token: root, subject_token_type: ACCESS_TOKEN, scope: "orders:read" })).json as { access_token: string };
    const last = (await exchange(inventory, { subject_token: middle.access_token, subject_token_type: ACCESS_TOKEN })).json as { access_token: string };
    const jtiOf = (token: string) => decodeJwt(token).payload.jti;
    expect(decodeJwt(last.access_token).payload.ancestor_jtis).toEqual([jtiOf(root), jtiOf(middle.access_token)]);
    const active = async (token: string) =>
      (await t().tokens.introspect({ token }, { headers: basic(introspector.id, introspector.secret) })).active;

    // The middle link, revoked by the client it was issued to: the last one goes with it, the root stays.
    const sibling = (await exchange(orders, { subject_token: root, subject_token_type: ACCESS_TOKEN })).json as { access_token: string };
    const nephew = (await exchange(inventory, { subject_token: sibling.access_token, subject_token_type: ACCESS_TOKEN })).json as { access_token: string };
    await t().tokens.revoke({ token: sibling.access_token }, { headers: basic(orders.id, orders.secret) });
    expect([await active(root), await active(sibling.access_token), await active(nephew.access_token)]).toEqual([true, false, false]);
    expect([await active(middle.access_token), await active(last.access_token)]).toEqual([true, true]);

    await t().tokens.revoke({ token: root }, { headers: basic(frontend.id, frontend.secret) });
    expect([await active(root), await active(middle.access_token), await active(last.access_token)]).toEqual([false, false, false]);
    expect(refusal(await exchange(inventory, { subject_token: middle.access_token, subject_token_type: ACCESS_TOKEN }))).toEqual({
      status: 400,
      error: "invalid_grant",
    });
  });

  it("a chain is at most 10 exchanges long: the 11th is invalid_grant", async () => {
    let token = await subjectToken();
    for (let depth = 1; depth <= 10; depth++) {
      const result = await exchange(orders, { subject_token: token, subject_token_type: ACCESS_TOKEN });
      expect(result.status, result.text).toBe(200);
      token = (result.json as { access_token: string }).access_token;
    }
    expect(decodeJwt(token).payload.ancestor_jtis).toHaveLength(10);
    const refused = await exchange(orders, { subject_token: token, subject_token_type: ACCESS_TOKEN });
    expect(refusal(refused)).toEqual({ status: 400, error: "invalid_grant" });
    expect(oauthErrorOf(refused) && (refused.json as { error_description: string }).error_description).toMatch(/exchanged 10 times/);
  });

  it("the lifetime is the subject token's remaining lifetime, and never more than the client's", async () => {
    const subject = await subjectToken();
    await t().clock.advance(40_000);
    const left = await exchange(orders, { subject_token: subject, subject_token_type: ACCESS_TOKEN });
    expect((left.json as { expires_in: number }).expires_in).toBe(60);
    expect(decodeJwt((left.json as { access_token: string }).access_token).payload.exp).toBe(decodeJwt(subject).payload.exp);
    const capped = await exchange(inventory, { subject_token: subject, subject_token_type: ACCESS_TOKEN });
    expect((capped.json as { expires_in: number }).expires_in).toBe(30);
  });

  it("a revoked, expired, forged or other tenant's subject token is invalid_grant, and the token is never echoed", async () => {
    const revoked = await subjectToken();
    await t().tokens.revoke({ token: revoked }, { headers: basic(frontend.id, frontend.secret) });
    const acme = await postForm(`${t().server.url}/t/acme/oauth2/token`, { grant_type: "client_credentials" }, basic("acme-frontend", frontend.secret));
    const acmeToken = (acme.json as { access_token: string }).access_token;
    const [head, body] = (await subjectToken()).split(".");
    const forged = `${head}.${body}.${Buffer.alloc(64).toString("base64url")}`;
    for (const token of [revoked, acmeToken, forged, "garbage", "x".repeat(10_000)]) {
      const result = await exchange(orders, { subject_token: token, subject_token_type: ACCESS_TOKEN });
      expect(refusal(result), token.slice(0, 20)).toEqual({ status: 400, error: "invalid_grant" });
      expect(result.text).not.toContain(token);
    }
    const expiring = await subjectToken();
    await t().clock.advance(100_000);
    expect(refusal(await exchange(orders, { subject_token: expiring, subject_token_type: ACCESS_TOKEN }))).toEqual({ status: 400, error: "invalid_grant" });
  });

  it("may_act in the subject token: only the client it names may act", async () => {
    const now = Math.floor(t().clock.now() / 1000);
    const claims = { iss: t().server.domain.issuer, sub: "alice", client_id: frontend.id, aud: "https://orders.test", scope: "orders:read", iat: now, exp: now + 60, jti: randomId() };
    const mayAct = await t().server.domain.keyRing.sign({ ...claims, may_act: { sub: inventory.id } });
    expect(refusal(await exchange(orders, { subject_token: mayAct, subject_token_type: ACCESS_TOKEN }))).toEqual({ status: 400, error: "invalid_grant" });
    const allowed = await exchange(inventory, { subject_token: mayAct, subject_token_type: ACCESS_TOKEN });
    expect(allowed.status, allowed.text).toBe(200);
    expect(decodeJwt((allowed.json as { access_token: string }).access_token).payload).toMatchObject({ sub: "alice", act: actor(inventory.id) });
  });

  it("an actor_token must be the acting client's own token in force; then it is accepted", async () => {
    const subject = await subjectToken();
    const own = (await t().tokens.issueClientToken({ scopes: ["orders:read"] }, { headers: basic(orders.id, orders.secret) })).accessToken;
    const ok = await exchange(orders, { subject_token: subject, subject_token_type: ACCESS_TOKEN, actor_token: own, actor_token_type: ACCESS_TOKEN });
    expect(ok.status, ok.text).toBe(200);
    expect(decodeJwt((ok.json as { access_token: string }).access_token).payload.act).toEqual(actor(orders.id));
    const someoneElses = await subjectToken();
    for (const actorToken of [someoneElses, "garbage"]) {
      const refused = await exchange(orders, { subject_token: subject, subject_token_type: ACCESS_TOKEN, actor_token: actorToken, actor_token_type: ACCESS_TOKEN });
      expect(refusal(refused)).toEqual({ status: 400, error: "invalid_grant" });
    }
  });

  describe.each([
    ["grpc (HTTP/2)", transports["grpc (HTTP/2)"]],
    ["connect JSON (HTTP/1.1)", transports["connect JSON (HTTP/1.1)"]],
  ] as const)("TokenService.ExchangeToken over %s", (_protocol, transportOf: (url: string) => Transport) => {
    const rpc = () => tokenClient(transportOf(t().server.url));
    const as = (client: TestClient) => ({ headers: basic(client.id, client.secret) });

    it("exchanges, with the same token as the HTTP endpoint gives", async () => {
      const subject = await subjectToken();
      const response = await rpc().exchangeToken(
        { subjectToken: subject, subjectTokenType: ACCESS_TOKEN, scopes: ["orders:read"], resource: ["https://billing.test"] },
        as(orders),
      );
      expect(response).toMatchObject({ issuedTokenType: ACCESS_TOKEN, tokenType: "Bearer", expiresIn: 100n, scopes: ["orders:read"] });
      expect(decodeJwt(response.accessToken).payload).toMatchObject({ sub: frontend.id, client_id: orders.id, aud: "https://billing.test", act: actor(orders.id) });
    });

    it("client_secret_post in the request works as at the HTTP endpoint", async () => {
      const response = await rpc().exchangeToken({ clientId: orders.id, clientSecret: orders.secret, subjectToken: await subjectToken(), subjectTokenType: JWT });
      expect(response.scopes).toEqual(["orders:read", "orders:write"]);
    });

    it("refusals carry the RPC code and the OAuth error", async () => {
      const subject = await subjectToken(["orders:read"]);
      const ask = { subjectToken: subject, subjectTokenType: ACCESS_TOKEN };
      await expectRpcError(rpc().exchangeToken(ask, as(noExchange)), Code.PermissionDenied, "unauthorized_client", /token-exchange/);
      await expectRpcError(rpc().exchangeToken({ ...ask, scopes: ["inventory:read"] }, as(orders)), Code.PermissionDenied, "invalid_scope");
      await expectRpcError(rpc().exchangeToken({ ...ask, audience: ["https://evil.test"] }, as(orders)), Code.PermissionDenied, "invalid_target");
      await expectRpcError(rpc().exchangeToken({ subjectToken: subject }, as(orders)), Code.InvalidArgument, "invalid_request");
      await expectRpcError(rpc().exchangeToken({ ...ask, subjectToken: "garbage" }, as(orders)), Code.PermissionDenied, "invalid_grant");
      await expectRpcError(rpc().exchangeToken(ask, { headers: basic(orders.id, "tks_cs_wrong") }), Code.Unauthenticated, "invalid_client");
    });

    it("a revoked subject token: PermissionDenied invalid_grant", async () => {
      const subject = await subjectToken();
      await rpc().revoke({ token: subject }, as(frontend));
      await expectRpcError(rpc().exchangeToken({ subjectToken: subject, subjectTokenType: ACCESS_TOKEN }, as(orders)), Code.PermissionDenied, "invalid_grant");
    });
  });
});
