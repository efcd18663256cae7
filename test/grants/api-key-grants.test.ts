import { Code } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IntrospectResponseSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { generateSecret, hasValidChecksum, hashSecret, tokenDigest } from "../../src/domain/secret-format.js";
import { storeKeys } from "../../src/store/store.js";
import type { RunningServer } from "../../src/server.js";
import { EVERY_BACKEND } from "../support/backends.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const passkeyKey = generateSecret("api_key");
const externalKey = generateSecret("api_key");
const shortKey = generateSecret("api_key");
const introspector = testClient("resource-server", ["token:introspect", "grant:consume"]);


describe.each(EVERY_BACKEND)("API-key grants on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;

  beforeAll(async () => {
    await backend.start();
    const options = backend.serverOptions();
    server = await startTestServer({
      ...options,
      clients: [introspector],
      config: {
        ...options.config,
        apiKeys: [
          { name: "passkeys-backend", keyHash: hashSecret(passkeyKey), scopes: ["passkey:read", "passkey:write"] },
          { name: "checkout-backend", keyHash: hashSecret(externalKey), scopes: ["external:verify"], grantLifetimeSeconds: 120 },
          { name: "short-lived", keyHash: hashSecret(shortKey), scopes: ["passkey:read"], grantLifetimeSeconds: 1 },
        ],
      },
    });
    rpc = tokenClient(transports["grpc (HTTP/2)"](server.url));
  });
  afterAll(async () => {
    await server?.close();
    await backend.stop();
  });

  const introspect = (token: string, consume = false) =>
    rpc.introspect({ token, consume }, { headers: basic(introspector.id, introspector.secret) });

  describe("refuses", () => {
    it.each([
      ["no authorization", {}],
      ["an unknown API key", apiKeyAuth(generateSecret("api_key"))],
      ["client credentials instead of an API key", basic(introspector.id, introspector.secret)],
      ["a Bearer token", { authorization: "Bearer abc" }],
    ])("%s: Unauthenticated, invalid_client", async (_case, headers) => {
      await expectRpcError(rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers }), Code.Unauthenticated, "invalid_client");
    });

    it("malformed Basic: InvalidArgument", async () => {
      await expectRpcError(
        rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: { authorization: "Basic %%%" } }),
        Code.InvalidArgument,
        "invalid_request",
      );
    });

    it.each([
      ["an empty username", { username: "", grants: ["passkey:read"] }, /username is required/],
      ["a blank username", { username: "   ", grants: ["passkey:read"] }, /username is required/],
      ["a 257-character username", { username: "u".repeat(257), grants: ["passkey:read"] }, /too long/],
      ["a username with control characters", { username: "al\nice", grants: ["passkey:read"] }, /control characters/],
      ["no grants", { username: "alice", grants: [] }, /at least one/],
    ])("%s: InvalidArgument, invalid_request", async (_case, request, message) => {
      await expectRpcError(rpc.issueGrant(request, { headers: apiKeyAuth(passkeyKey) }), Code.InvalidArgument, "invalid_request", message);
    });

    it("a malformed grant: InvalidArgument, invalid_scope", async () => {
      await expectRpcError(
        rpc.issueGrant({ username: "alice", grants: ["has space"] }, { headers: apiKeyAuth(passkeyKey) }),
        Code.InvalidArgument,
        "invalid_scope",
      );
    });

    it("a grant the key does not hold: PermissionDenied, invalid_scope, naming it", async () => {
      await expectRpcError(
        rpc.issueGrant({ username: "alice", grants: ["passkey:read", "profile:write"] }, { headers: apiKeyAuth(passkeyKey) }),
        Code.PermissionDenied,
        "invalid_scope",
        /profile:write/,
      );
    });

    it("an external-auth grant from a key without external:verify: PermissionDenied", async () => {
      await expectRpcError(
        rpc.issueExternalAuthGrant({ username: "alice" }, { headers: apiKeyAuth(passkeyKey) }),
        Code.PermissionDenied,
        "invalid_scope",
        /external:verify/,
      );
    });

    it("an external-auth grant without a username: InvalidArgument", async () => {
      await expectRpcError(rpc.issueExternalAuthGrant({ username: "" }, { headers: apiKeyAuth(externalKey) }), Code.InvalidArgument, "invalid_request");
    });
  });

  it("issues an opaque, prefixed, checksummed 256-bit grant with the key's lifetime", async () => {
    const grant = await rpc.issueGrant({ username: "alice", grants: ["passkey:write", "passkey:read"] }, { headers: apiKeyAuth(passkeyKey) });
    expect(hasValidChecksum(grant.token, "grant")).toBe(true);
    expect(grant.expiresIn).toBe(30n);
    expect(grant.grants).toEqual(["passkey:write", "passkey:read"]);
    const result = await introspect(grant.token);
    expect(toJson(IntrospectResponseSchema, result)).toMatchObject({
      active: true,
      scopes: ["passkey:write", "passkey:read"],
      username: "alice",
      sub: "alice",
      clientId: "passkeys-backend",
      tokenType: "Bearer",
      tokenUse: "grant",
      iss: server.domain.issuer,
    });
    // iat is the issue second truncated, exp the exact end rounded up: 30, or 31 when issued mid-second.
    expect(Number(result.exp - result.iat)).toBeGreaterThanOrEqual(30);
    expect(Number(result.exp - result.iat)).toBeLessThanOrEqual(31);
  });

  it("stores the grant only by hash, with a TTL equal to its lifetime", async () => {
    const grant = await rpc.issueGrant({ username: "bob", grants: ["passkey:read"] }, { headers: apiKeyAuth(passkeyKey) });
    const store = server.domain.store;
    expect(await store.get(storeKeys.grant(grant.token))).toBeNull();
    const ttl = await store.ttl(storeKeys.grant(tokenDigest(grant.token)));
    expect(ttl).not.toBeNull();
    expect(ttl!).toBeGreaterThan(25_000);
    expect(ttl!).toBeLessThanOrEqual(30_000);
    expect(await store.get(storeKeys.grant(tokenDigest(grant.token)))).not.toContain(grant.token);
  });

  it("IssueExternalAuthGrant carries exactly external:verify", async () => {
    const grant = await rpc.issueExternalAuthGrant({ username: "carol" }, { headers: apiKeyAuth(externalKey) });
    expect(grant.expiresIn).toBe(120n);
    const result = await introspect(grant.token);
    expect(result.active).toBe(true);
    expect(result.scopes).toEqual(["external:verify"]);
    expect(result.username).toBe("carol");
  });

  it("a grant is inactive once its lifetime has passed", async () => {
    const grant = await rpc.issueGrant({ username: "dave", grants: ["passkey:read"] }, { headers: apiKeyAuth(shortKey) });
    expect((await introspect(grant.token)).active).toBe(true);
    await backend.advance(1_100);
    expect(toJson(IntrospectResponseSchema, await introspect(grant.token))).toEqual({ active: false });
  });

  it("consume spends a grant exactly once among 50 concurrent consumers", async () => {
    const grant = await rpc.issueGrant({ username: "erin", grants: ["passkey:read"] }, { headers: apiKeyAuth(passkeyKey) });
    const results = await Promise.all(Array.from({ length: 50 }, () => introspect(grant.token, true)));
    expect(results.filter((result) => result.active)).toHaveLength(1);
    expect((await introspect(grant.token)).active).toBe(false);
  });

  it("introspection without consume leaves the grant usable", async () => {
    const grant = await rpc.issueGrant({ username: "frank", grants: ["passkey:read"] }, { headers: apiKeyAuth(passkeyKey) });
    for (let i = 0; i < 3; i += 1) expect((await introspect(grant.token)).active).toBe(true);
  });
});
