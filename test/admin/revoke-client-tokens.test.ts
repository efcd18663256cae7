import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { beforeEach, describe, expect, it } from "vitest";
import { Source } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { AccessTokenClaims } from "../../src/domain/access-token.js";
import { randomId } from "../../src/domain/random-id.js";
import { storeKeys } from "../../src/store/store.js";
import { ADMIN_SCOPE, BACKENDS, bearer, decodeJwt, useAdminServer, type AdminTestServer } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * AdminService RevokeClientTokens, the kill switch after a leak: every token
 * the client was issued up to the call is inactive, the client stays, and
 * tokens issued after the call are active, even within the same second
 * (tokens carry `iat` in whole seconds).
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const configClient = testClient("config-orders", ["orders:read", "token:introspect"]);
/** ADMIN_TEST_CONFIG.maxTokenLifetimeSeconds: the longest any revoked token can live. */
const MAX_TOKEN_LIFETIME_MS = 600_000;

describe.each(BACKENDS)("AdminService RevokeClientTokens on %s", (_name, makeBackend) => {
  const server = useAdminServer(makeBackend, { admin, clients: [resourceServer, configClient] });
  let t: AdminTestServer;
  beforeEach(() => {
    t = server();
  });

  const tokenOf = async (id: string, secret: string, scopes: string[] = []) =>
    (await t.tokens.issueClientToken({ scopes }, { headers: basic(id, secret) })).accessToken;
  const active = async (token: string) =>
    (await t.tokens.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) })).active;

  it("tokens issued before the call are inactive, the client stays, and one issued after in the same second is active", async () => {
    const { clientSecret } = await t.admin.createClient({ id: "leaked", scopes: ["orders:read"] });
    const early = await tokenOf("leaked", clientSecret);
    t.clock.advance(400);
    const late = await tokenOf("leaked", clientSecret);
    expect([await active(early), await active(late)]).toEqual([true, true]);

    t.clock.advance(100);
    const revokedAt = t.clock.now();
    const response = await t.admin.revokeClientTokens({ id: "leaked" });
    expect(timestampMs(response.revokeTime!)).toBe(revokedAt);
    expect([await active(early), await active(late)]).toEqual([false, false]);

    // Same whole second as the cut-off and both earlier tokens, but issued after the call.
    t.clock.advance(1);
    const after = await tokenOf("leaked", clientSecret);
    expect(Math.floor(t.clock.now() / 1000)).toBe(Math.floor(revokedAt / 1000));
    expect(await active(after)).toBe(true);
    expect([await active(early), await active(late)]).toEqual([false, false]);
    expect((await t.admin.getClient({ id: "leaked" })).client?.id).toBe("leaked");
  });

  it("a token without iat_ms (issued before it existed) or with one that contradicts iat counts from the start of its iat second", async () => {
    const { clientSecret } = await t.admin.createClient({ id: "legacy-holder" });
    const issued = decodeJwt(await tokenOf("legacy-holder", clientSecret)).payload as unknown as AccessTokenClaims;
    expect(issued.iat_ms).toBe(t.clock.now());
    const sign = (changes: Partial<AccessTokenClaims>) => t.server.domain.keyRing.sign({ ...issued, jti: randomId(), ...changes });
    const second = Math.floor(t.clock.now() / 1000);
    t.clock.advance(10);
    const cutoff = t.clock.now();
    const withoutMs = await sign({ iat: second, iat_ms: undefined });
    const contradicting = await sign({ iat: second, iat_ms: cutoff + 1000 });
    const nextSecond = await sign({ iat: second + 1, iat_ms: undefined });
    const laterInSecond = await sign({ iat: second, iat_ms: cutoff + 1 });
    expect(await Promise.all([withoutMs, contradicting, nextSecond, laterInSecond].map(active))).toEqual([true, true, true, true]);

    await t.admin.revokeClientTokens({ id: "legacy-holder" });
    expect(await Promise.all([withoutMs, contradicting, nextSecond, laterInSecond].map(active))).toEqual([false, false, true, true]);
  });

  it("a revoked token no longer authenticates as a Bearer caller; a token issued after does", async () => {
    const { clientSecret } = await t.admin.createClient({ id: "leaked-introspector", scopes: ["token:introspect"] });
    const probe = await tokenOf(resourceServer.id, resourceServer.secret);
    const old = await tokenOf("leaked-introspector", clientSecret);
    expect((await t.tokens.introspect({ token: probe }, { headers: bearer(old) })).active).toBe(true);

    await t.admin.revokeClientTokens({ id: "leaked-introspector" });
    await expectRpcError(t.tokens.introspect({ token: probe }, { headers: bearer(old) }), Code.Unauthenticated, "invalid_client");
    t.clock.advance(1);
    const fresh = await tokenOf("leaked-introspector", clientSecret);
    expect((await t.tokens.introspect({ token: probe }, { headers: bearer(fresh) })).active).toBe(true);
  });

  it("a config-declared client's tokens can be revoked too (not an edit): it stays declared and gets new tokens", async () => {
    const old = await tokenOf(configClient.id, configClient.secret);
    await t.admin.revokeClientTokens({ id: configClient.id });
    expect(await active(old)).toBe(false);
    t.clock.advance(1);
    expect(await active(await tokenOf(configClient.id, configClient.secret))).toBe(true);
    expect((await t.admin.getClient({ id: configClient.id })).client?.source).toBe(Source.CONFIG);
  });

  it("revokes only that client's tokens", async () => {
    const { clientSecret } = await t.admin.createClient({ id: "bystander" });
    const { clientSecret: leakedSecret } = await t.admin.createClient({ id: "leaked-alone" });
    const bystander = await tokenOf("bystander", clientSecret);
    const leaked = await tokenOf("leaked-alone", leakedSecret);
    await t.admin.revokeClientTokens({ id: "leaked-alone" });
    expect([await active(bystander), await active(leaked)]).toEqual([true, false]);
  });

  it("the cut-off is kept as long as the longest token can live, and no longer", async () => {
    await t.admin.createClient({ id: "kept" });
    await t.admin.revokeClientTokens({ id: "kept" });
    const ttl = await t.server.domain.store.ttl(storeKeys.clientTokensRevoked("kept"));
    expect(ttl).not.toBeNull();
    expect(ttl!).toBeGreaterThan(MAX_TOKEN_LIFETIME_MS - 10_000);
    expect(ttl!).toBeLessThanOrEqual(MAX_TOKEN_LIFETIME_MS);
  });

  it.each([
    ["an unknown client", "nobody"],
    ["an empty id", ""],
  ])("%s: NotFound, and nothing is written", async (_case, id) => {
    await expectRpcError(t.admin.revokeClientTokens({ id }), Code.NotFound, "invalid_request", /not found/);
    expect(await t.server.domain.store.get(storeKeys.clientTokensRevoked(id))).toBeNull();
  });

  it("a deleted client: NotFound", async () => {
    await t.admin.createClient({ id: "gone" });
    await t.admin.deleteClient({ id: "gone" });
    await expectRpcError(t.admin.revokeClientTokens({ id: "gone" }), Code.NotFound, "invalid_request", /not found/);
  });
});

/**
 * Resource servers that verify JWTs locally know no clients: a deletion
 * reaches them as a cut-off of the client's tokens (issue 18 item 6).
 */
describe.each(BACKENDS)("DeleteClient as seen by a WatchRevocations watcher on %s", (_name, makeBackend) => {
  const server = useAdminServer(makeBackend, { admin, clients: [resourceServer] });
  let t: AdminTestServer;
  beforeEach(() => {
    t = server();
  });

  const snapshotCutoffs = async () => {
    const controller = new AbortController();
    try {
      const stream = t.tokens.watchRevocations({}, { headers: basic(resourceServer.id, resourceServer.secret), signal: controller.signal });
      for await (const { message } of stream) {
        if (message.case === "snapshot") return new Map(message.value.clientCutoffs.map((c) => [c.clientId, Number(c.issuedBeforeMs)]));
      }
      throw new Error("the stream ended before its snapshot");
    } finally {
      controller.abort();
    }
  };

  it("cuts off every token the client held, and none of a client created afterwards with the same id", async () => {
    const first = await t.admin.createClient({ id: "short-lived" });
    const old = (await t.tokens.issueClientToken({}, { headers: basic("short-lived", first.clientSecret) })).accessToken;
    t.clock.advance(10);
    await t.admin.deleteClient({ id: "short-lived" });

    const cutoff = (await snapshotCutoffs()).get("short-lived");
    const oldClaims = decodeJwt(old).payload as { iat_ms: number };
    expect(cutoff).toBeGreaterThan(oldClaims.iat_ms);

    t.clock.advance(10);
    const second = await t.admin.createClient({ id: "short-lived" });
    const fresh = (await t.tokens.issueClientToken({}, { headers: basic("short-lived", second.clientSecret) })).accessToken;
    expect((decodeJwt(fresh).payload as { iat_ms: number }).iat_ms).toBeGreaterThanOrEqual(cutoff!);
  });
});
