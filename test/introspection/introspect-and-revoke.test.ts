import { Code } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { SignJWT, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IntrospectResponseSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { storeKeys } from "../../src/store/store.js";
import type { RunningServer } from "../../src/server.js";
import { clusterBackend, memoryBackend, redisBackend, type Backend } from "../support/backends.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read", "orders:write"], { tokenLifetimeSeconds: 60 });
const billing = testClient("billing", ["billing:read"]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const admin = testClient("token-admin", ["token:introspect", "token:delete"]);
const apiKey = generateSecret("api_key");
const otherApiKey = generateSecret("api_key");

describe.each<() => Backend>([memoryBackend, redisBackend, clusterBackend])("Introspect and Revoke on %s", (makeBackend) => {
  const backend = makeBackend();
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;

  beforeAll(async () => {
    await backend.start();
    const options = backend.serverOptions();
    server = await startTestServer({
      ...options,
      clients: [orders, billing, resourceServer, admin],
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
  const isInactive = async (token: string) => expect(toJson(IntrospectResponseSchema, await introspect(token))).toEqual({});

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
