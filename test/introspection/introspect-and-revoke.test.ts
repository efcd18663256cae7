import { Code } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { SignJWT, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IntrospectResponseSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { storeKeys } from "../../src/store/store.js";
import type { RunningServer } from "../../src/server.js";
import { EVERY_BACKEND } from "../support/backends.js";
import { decodeJwt } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read", "orders:write"], { tokenLifetimeSeconds: 60 });
const billing = testClient("billing", ["billing:read"]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const admin = testClient("token-admin", ["token:introspect", "token:delete"]);
const consumer = testClient("grant-consumer", ["token:introspect", "grant:consume"]);
const apiKey = generateSecret("api_key");
const otherApiKey = generateSecret("api_key");

describe.each(EVERY_BACKEND)("Introspect and Revoke on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;

  beforeAll(async () => {
    await backend.start();
    const options = backend.serverOptions();
    server = await startTestServer({
      ...options,
      clients: [orders, billing, resourceServer, admin, consumer],
      config: {
        ...options.config,
        apiKeys: [
          { name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] },
          { name: "other-backend", keyHash: hashSecret(otherApiKey), scopes: ["passkey:read"] },
        ],
      },
    });
    rpc = tokenClient(transports["connect binary (HTTP/2)"](server.url));
  });
  afterAll(async () => {
    await server?.close();
    await backend.stop();
  });

  const tokenFor = async (client: typeof orders, scopes: string[] = []) =>
    (await rpc.issueClientToken({ scopes }, { headers: basic(client.id, client.secret) })).accessToken;
  const introspectAs = (headers: Record<string, string>, token: string) => rpc.introspect({ token }, { headers });
  const introspect = (token: string) => introspectAs(basic(resourceServer.id, resourceServer.secret), token);
  const isInactive = async (token: string) => expect(toJson(IntrospectResponseSchema, await introspect(token))).toEqual({ active: false });

  describe("Introspect authenticates its caller", () => {
    it("no credentials: Unauthenticated", async () => {
      await expectRpcError(rpc.introspect({ token: "x" }), Code.Unauthenticated, "invalid_client");
    });
    it("a wrong client secret: Unauthenticated", async () => {
      await expectRpcError(introspectAs(basic(resourceServer.id, "wrong"), "x"), Code.Unauthenticated, "invalid_client");
    });
    it("a Bearer token without token:introspect: PermissionDenied, insufficient_scope", async () => {
      const bearer = await tokenFor(orders);
      await expectRpcError(introspectAs({ authorization: `Bearer ${bearer}` }, "x"), Code.PermissionDenied, "insufficient_scope");
    });
    it("a forged Bearer token: Unauthenticated", async () => {
      await expectRpcError(introspectAs({ authorization: "Bearer not.a.jwt" }, "x"), Code.Unauthenticated, "invalid_client");
    });
    it("a Bearer token with token:introspect works", async () => {
      const bearer = await tokenFor(resourceServer);
      const target = await tokenFor(orders);
      expect((await introspectAs({ authorization: `Bearer ${bearer}` }, target)).active).toBe(true);
    });
    it("an empty token: InvalidArgument", async () => {
      await expectRpcError(introspect(""), Code.InvalidArgument, "invalid_request");
    });
  });

  /**
   * Issue 16, item 4: a client with only b:read introspected other clients'
   * tokens and grants, and spent another API key's grant with consume.
   */
  describe("Introspect authorizes its caller", () => {
    const grantOf = async (key = apiKey) =>
      (await rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuth(key) })).token;
    const bearerOf = async (client: typeof orders, scopes: string[] = []) => ({ authorization: `Bearer ${await tokenFor(client, scopes)}` });
    const asClient = (client: typeof orders) => basic(client.id, client.secret);

    it.each(["grpc (HTTP/2)", "connect JSON (HTTP/1.1)", "grpc-web (HTTP/1.1)"] as const)(
      "a client without token:introspect (%s): PermissionDenied, insufficient_scope, for another client's token",
      async (transport) => {
        const over = tokenClient(transports[transport](server.url));
        const call = over.introspect({ token: await tokenFor(orders) }, { headers: asClient(billing) });
        await expectRpcError(call, Code.PermissionDenied, "insufficient_scope", "the client lacks the scope token:introspect");
      },
    );

    it("a client without token:introspect: PermissionDenied for a grant, with consume too, and the grant is not spent", async () => {
      const grant = await grantOf();
      await expectRpcError(introspectAs(asClient(billing), grant), Code.PermissionDenied, "insufficient_scope");
      await expectRpcError(rpc.introspect({ token: grant, consume: true }, { headers: asClient(billing) }), Code.PermissionDenied, "insufficient_scope");
      expect((await introspect(grant)).active).toBe(true);
    });

    it.each([
      ["a client with token:introspect only", () => Promise.resolve(asClient(resourceServer))],
      ["a Bearer token with token:introspect only", () => bearerOf(resourceServer)],
      ["a Bearer token with token:introspect of a client that may hold grant:consume", () => bearerOf(consumer, ["token:introspect"])],
    ])("consume by %s: PermissionDenied, insufficient_scope grant:consume, and the grant is not spent", async (_case, headers) => {
      const grant = await grantOf();
      const call = rpc.introspect({ token: grant, consume: true }, { headers: await headers() });
      await expectRpcError(call, Code.PermissionDenied, "insufficient_scope", "grant:consume");
      expect((await introspect(grant)).active).toBe(true);
    });

    it.each([
      ["a client with grant:consume", () => Promise.resolve(asClient(consumer))],
      ["a Bearer token with token:introspect and grant:consume", () => bearerOf(consumer)],
    ])("consume by %s spends another API key's grant once", async (_case, headers) => {
      const grant = await grantOf();
      const first = await rpc.introspect({ token: grant, consume: true }, { headers: await headers() });
      expect(first).toMatchObject({ active: true, username: "alice", clientId: "backend" });
      await isInactive(grant);
    });

    it("an API key introspects its own grant (no scope needed) and consumes it once", async () => {
      const grant = await grantOf();
      const own = { headers: apiKeyAuth(apiKey) };
      expect(await rpc.introspect({ token: grant }, own)).toMatchObject({ active: true, username: "alice", clientId: "backend", scopes: ["passkey:read"] });
      expect((await rpc.introspect({ token: grant, consume: true }, own)).active).toBe(true);
      expect(toJson(IntrospectResponseSchema, await rpc.introspect({ token: grant, consume: true }, own))).toEqual({ active: false });
      await isInactive(grant);
    });

    it.each([
      ["another API key's grant", () => grantOf(otherApiKey)],
      ["an access token", () => tokenFor(orders)],
      ["an unknown grant", () => Promise.resolve(generateSecret("grant"))],
    ])("an API key introspecting %s: exactly {active: false}, with consume too, and nothing is spent", async (_case, make) => {
      const token = await make();
      for (const consume of [false, true]) {
        const result = await rpc.introspect({ token, consume }, { headers: apiKeyAuth(apiKey) });
        expect(toJson(IntrospectResponseSchema, result)).toEqual({ active: false });
      }
      if (_case !== "an unknown grant") expect((await introspect(token)).active).toBe(true);
    });

    it("an unknown API key: Unauthenticated, invalid_client", async () => {
      const call = rpc.introspect({ token: await grantOf() }, { headers: apiKeyAuth(generateSecret("api_key")) });
      await expectRpcError(call, Code.Unauthenticated, "invalid_client");
    });
  });

  it("an active access token shows the design's claims", async () => {
    const token = await tokenFor(orders, ["orders:read"]);
    const result = await introspect(token);
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    expect(toJson(IntrospectResponseSchema, result)).toEqual({
      active: true,
      scopes: ["orders:read"],
      clientId: "orders",
      sub: "orders",
      aud: [server.domain.issuer],
      iss: server.domain.issuer,
      exp: String(claims.exp),
      iat: String(claims.iat),
      jti: claims.jti,
      tokenType: "Bearer",
      tokenUse: "access_token",
    });
  });

  it.each([
    ["an unknown opaque string", () => "hello"],
    ["an unknown grant", () => generateSecret("grant")],
    ["a malformed JWT", () => "eyJ.eyJ.sig"],
    ["a 9000-character token", () => "a".repeat(9000)],
  ])("%s is exactly {active: false}", async (_case, make) => {
    await isInactive(make());
  });

  it("a token signed by another key is inactive", async () => {
    const { privateKey } = await generateKeyPair("EdDSA");
    const kid = server.domain.keyRing.active().kid;
    const forged = await new SignJWT({ client_id: "orders", scope: "orders:read", jti: "x" })
      .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid })
      .setIssuer(server.domain.issuer)
      .setSubject("orders")
      .setAudience(server.domain.issuer)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    await isInactive(forged);
  });

  it.runIf(backend.name === "memory")("an expired access token is exactly {active: false}", async () => {
    const token = await tokenFor(orders);
    expect((await introspect(token)).active).toBe(true);
    await backend.advance(61_000);
    await isInactive(token);
  });

  describe("Revoke", () => {
    it("by the client it was issued to: inactive from then on, kept for the token's remaining lifetime only", async () => {
      const token = await tokenFor(orders);
      await rpc.revoke({ token }, { headers: basic(orders.id, orders.secret) });
      await isInactive(token);
      const jti = (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { jti: string }).jti;
      const ttl = await server.domain.store.ttl(storeKeys.revokedJti(jti));
      expect(ttl).not.toBeNull();
      expect(ttl!).toBeGreaterThan(50_000);
      expect(ttl!).toBeLessThanOrEqual(60_000);
    });

    it("each acknowledged revoke of an access token is an access_token_revoked entry of the change feed, with its jti and exp", async () => {
      const tokens = [await tokenFor(orders), await tokenFor(billing)];
      const bearer = await tokenFor(admin);
      await rpc.revoke({ token: tokens[0]! }, { headers: basic(orders.id, orders.secret) });
      await rpc.revoke({ token: tokens[1]! }, { headers: { authorization: `Bearer ${bearer}` } });
      const { entries } = await server.domain.feed.read(undefined, 10_000);
      for (const token of tokens) {
        const { jti, exp } = decodeJwt(token).payload as { jti: string; exp: number };
        expect(entries.filter((entry) => entry.event.type === "access_token_revoked" && entry.event.jti === jti).map((entry) => entry.event)).toEqual([
          { type: "access_token_revoked", jti, exp },
        ]);
      }
    });

    it("a revoke that changes nothing (another client's token, an unknown token) adds no feed entry", async () => {
      const token = await tokenFor(orders);
      const before = await server.domain.feed.read(undefined, 10_000);
      await rpc.revoke({ token }, { headers: basic(billing.id, billing.secret) });
      await rpc.revoke({ token: "nonsense" }, { headers: basic(orders.id, orders.secret) });
      expect((await server.domain.feed.read(before.next, 10)).entries).toEqual([]);
    });

    it("by another client: success, but the token stays active", async () => {
      const token = await tokenFor(orders);
      await rpc.revoke({ token }, { headers: basic(billing.id, billing.secret) });
      expect((await introspect(token)).active).toBe(true);
    });

    it("by a Bearer token with token:delete: inactive", async () => {
      const token = await tokenFor(orders);
      const bearer = await tokenFor(admin);
      await rpc.revoke({ token }, { headers: { authorization: `Bearer ${bearer}` } });
      await isInactive(token);
    });

    it("a Bearer token without token:delete: PermissionDenied, and nothing changes", async () => {
      const token = await tokenFor(orders);
      const bearer = await tokenFor(resourceServer);
      await expectRpcError(rpc.revoke({ token }, { headers: { authorization: `Bearer ${bearer}` } }), Code.PermissionDenied, "insufficient_scope");
      expect((await introspect(token)).active).toBe(true);
    });

    it("without credentials: Unauthenticated", async () => {
      await expectRpcError(rpc.revoke({ token: await tokenFor(orders) }), Code.Unauthenticated, "invalid_client");
    });

    it.each([
      ["an unknown token", () => "nonsense"],
      ["an unknown grant", () => generateSecret("grant")],
    ])("%s: success", async (_case, make) => {
      await expect(rpc.revoke({ token: make() }, { headers: basic(orders.id, orders.secret) })).resolves.toBeDefined();
    });

    it("twice: success both times", async () => {
      const token = await tokenFor(orders);
      await rpc.revoke({ token }, { headers: basic(orders.id, orders.secret) });
      await rpc.revoke({ token }, { headers: basic(orders.id, orders.secret) });
      await isInactive(token);
    });

    it("a type hint it cannot handle: InvalidArgument, unsupported_token_type", async () => {
      await expectRpcError(
        rpc.revoke({ token: "x", tokenTypeHint: "refresh_token" }, { headers: basic(orders.id, orders.secret) }),
        Code.InvalidArgument,
        "unsupported_token_type",
      );
    });

    it("a grant, by the API key that asked for it: inactive; by another key: unchanged", async () => {
      const grant = (await rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuth(apiKey) })).token;
      await rpc.revoke({ token: grant }, { headers: apiKeyAuth(otherApiKey) });
      expect((await introspect(grant)).active).toBe(true);
      await rpc.revoke({ token: grant }, { headers: apiKeyAuth(apiKey) });
      await isInactive(grant);
    });

    it("a revoked Bearer token can no longer introspect", async () => {
      const bearer = await tokenFor(resourceServer);
      await rpc.revoke({ token: bearer }, { headers: basic(resourceServer.id, resourceServer.secret) });
      await expectRpcError(introspectAs({ authorization: `Bearer ${bearer}` }, "x"), Code.Unauthenticated, "invalid_client");
    });
  });
});
