import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type Verifier, type VerifierOptions, type VerifyResult } from "../../src/verifier/index.js";
import { ADMIN_SCOPE, BACKENDS, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { redisBackend } from "../support/backends.js";
import { withBrokenFeed as brokenFeed } from "../support/broken-feed.js";
import { eventually } from "../support/eventually.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * tokensmith/verifier (issue 18 item 5) against a real server in this
 * process: local checks of signature, typ, iss, aud and lifetime; the
 * revocation feed applied in memory; stale fails closed, or asks Introspect.
 * The process-level tests (another process, Redis killed) are in
 * verifier-processes.test.ts.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("orders-api", ["token:introspect"]);
const holder = testClient("checkout", ["orders:read", "orders:write"], { audiences: ["orders", "billing"] });
/** A service that trades the holder's tokens for its own (RFC 8693, issue 20). */
const delegate = testClient("fulfilment", ["orders:read"], { audiences: ["orders"], grantTypes: ["urn:ietf:params:oauth:grant-type:token-exchange"] });

const verifiers = new Set<Verifier>();
afterEach(async () => {
  await Promise.all([...verifiers].map((verifier) => verifier.close()));
  verifiers.clear();
});

function verifierFor(t: AdminTestServer, options: Partial<VerifierOptions> = {}): Verifier {
  const verifier = createVerifier({
    baseUrl: t.server.url,
    issuer: issuerOf(t),
    audience: "orders",
    clientId: resourceServer.id,
    clientSecret: resourceServer.secret,
    maxStalenessMs: 2_000,
    ...options,
  });
  verifiers.add(verifier);
  return verifier;
}

const reasonOf = (result: VerifyResult) => (result.active ? "active" : result.reason);
/** The server's issuer, as its tokens carry it. */
const issuerOf = (t: AdminTestServer) => t.server.url.replace(/\/$/, "");
/** Resolves once `verifier` gives `token` the reason `expected` (within 10 s). */
const untilReason = (verifier: Verifier, token: string, expected: string, timeoutMs?: number) =>
  eventually(async () => reasonOf(await verifier.verify(token)) === expected, timeoutMs);

describe.each(BACKENDS)("tokensmith/verifier on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;
  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, clients: [resourceServer, holder, delegate], config: { watchHeartbeatSeconds: 0.1 } });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const tokenOf = async (id = holder.id, secret = holder.secret, audience = ["orders"]) =>
    (await t.tokens.issueClientToken({ audience }, { headers: basic(id, secret) })).accessToken;

  it("accepts a valid token with its claims, and refuses it once revoked on the server", async () => {
    const verifier = verifierFor(t);
    await verifier.ready();
    const token = await tokenOf();
    const accepted = await verifier.verify(token);
    expect(accepted).toMatchObject({ active: true, claims: { client_id: holder.id, sub: holder.id, aud: "orders", iss: issuerOf(t) } });
    expect(accepted.active && accepted.claims.scope.split(" ").sort()).toEqual(["orders:read", "orders:write"]);

    await t.tokens.revoke({ token }, { headers: basic(holder.id, holder.secret) });
    await untilReason(verifier, token, "revoked");
    expect(verifier.status().revokedTokens).toBeGreaterThanOrEqual(1);
    expect(reasonOf(await verifier.verify(await tokenOf()))).toBe("active");
  });

  it("a token exchanged for a revoked one is refused as revoked too (issue 20, item 4)", async () => {
    const verifier = verifierFor(t);
    await verifier.ready();
    const root = await tokenOf();
    const exchanged = await t.tokens.exchangeToken(
      { subjectToken: root, subjectTokenType: "urn:ietf:params:oauth:token-type:access_token" },
      { headers: basic(delegate.id, delegate.secret) },
    );
    expect(await verifier.verify(exchanged.accessToken)).toMatchObject({ active: true, claims: { sub: holder.id, client_id: delegate.id, act: { sub: delegate.id } } });
    await t.tokens.revoke({ token: root }, { headers: basic(holder.id, holder.secret) });
    await untilReason(verifier, exchanged.accessToken, "revoked");
  });

  it("a verifier started after a revocation gets it in its snapshot", async () => {
    const token = await tokenOf();
    await t.tokens.revoke({ token }, { headers: basic(holder.id, holder.secret) });
    const verifier = verifierFor(t);
    await verifier.ready();
    expect(reasonOf(await verifier.verify(token))).toBe("revoked");
  });

  it("RevokeClientTokens and DeleteClient kill the client's earlier tokens, not later ones", async () => {
    const verifier = verifierFor(t);
    await verifier.ready();
    const { clientSecret } = await t.admin.createClient({ id: "leaky", scopes: ["orders:read"], audiences: ["orders"] });
    const early = await tokenOf("leaky", clientSecret);
    expect(reasonOf(await verifier.verify(early))).toBe("active");
    await t.admin.revokeClientTokens({ id: "leaky" });
    await untilReason(verifier, early, "revoked");
    t.clock.advance(1);
    const late = await tokenOf("leaky", clientSecret);
    expect(reasonOf(await verifier.verify(late))).toBe("active");

    await t.admin.deleteClient({ id: "leaky" });
    await untilReason(verifier, late, "revoked");
  });

  it("refuses locally a forged, wrongly typed, expired, not-yet-valid, wrong-audience or wrong-issuer token", async () => {
    const verifier = verifierFor(t);
    await verifier.ready();
    const genuine = await tokenOf();
    const { header, payload } = decodeJwt(genuine);
    const [encodedHeader, encodedPayload, signature] = genuine.split(".") as [string, string, string];
    const reencoded = (claims: object) => `${encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
    // Another key under the genuine kid, and one under a kid nobody published.
    const { privateKey } = await generateKeyPair("EdDSA");
    const issuerSigned = (headerFields: object) =>
      new SignJWT({ ...payload }).setProtectedHeader({ ...header, ...headerFields } as never).sign(t.server.domain.keyRing.active().privateKey);
    const forge = (headerFields: object, claims: object = payload) => new SignJWT({ ...claims }).setProtectedHeader({ ...header, ...headerFields } as never).sign(privateKey);

    const cases: Array<[string, string]> = [
      ["not a JWT", "not-a-token"],
      ["payload altered", reencoded({ ...payload, scope: "orders:admin" })],
      ["signed by another key under the genuine kid", await forge({})],
      ["signed by a key nobody published", await forge({ kid: "not-published" })],
      ["alg none", `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt", kid: header.kid })).toString("base64url")}.${encodedPayload}.`],
      ["typ JWT instead of at+jwt, signed by the issuer's own key", await issuerSigned({ typ: "JWT" })],
    ];
    const reasons = Object.fromEntries(await Promise.all(cases.map(async ([name, token]) => [name, reasonOf(await verifier.verify(token))])));
    expect(reasons).toEqual({
      "not a JWT": "malformed",
      "payload altered": "invalid_signature",
      "signed by another key under the genuine kid": "invalid_signature",
      "signed by a key nobody published": "unknown_key",
      "alg none": "invalid_signature",
      "typ JWT instead of at+jwt, signed by the issuer's own key": "malformed",
    });

    // Genuine tokens, issued by the server at other times or for others.
    const realNow = t.clock.now();
    t.clock.advance(-3_600_000);
    const expired = await tokenOf();
    t.clock.set(realNow + 3_600_000);
    const future = await tokenOf();
    t.clock.set(realNow);
    expect(reasonOf(await verifier.verify(expired))).toBe("expired");
    expect(decodeJwt(future).payload.nbf ?? decodeJwt(future).payload.iat).toBeGreaterThan(realNow / 1000);
    expect(reasonOf(await verifier.verify(await tokenOf(holder.id, holder.secret, ["billing"])))).toBe("wrong_audience");
    const otherIssuer = verifierFor(t, { issuer: "https://elsewhere.example" });
    await otherIssuer.ready();
    expect(reasonOf(await otherIssuer.verify(genuine))).toBe("wrong_issuer");
  });

  it("a key rotated in (published, then signing) never makes it refuse a valid token; a retired key stops verifying", async () => {
    const verifier = verifierFor(t);
    await verifier.ready();
    const before = await tokenOf();
    const oldKid = decodeJwt(before).header.kid as string;
    const { key } = await t.admin.rotateSigningKey({});
    const newKid = key!.kid;
    expect(newKid).not.toBe(oldKid);
    // Publish-before-use: the feed announces the new key, and the verifier holds it before it signs.
    await eventually(async () => verifier.status().signingKeyIds.includes(newKid));
    t.clock.advance(61_000);
    const after = await tokenOf();
    expect(decodeJwt(after).header.kid).toBe(newKid);
    expect([reasonOf(await verifier.verify(before)), reasonOf(await verifier.verify(after))]).toEqual(["active", "active"]);

    // Past the old key's retirement (the longest token lifetime after the new key took over), announced by the next rotation.
    t.clock.advance(601_000);
    await t.admin.rotateSigningKey({});
    await untilReason(verifier, before, "unknown_key");
    expect(verifier.status().signingKeyIds).not.toContain(oldKid);
    expect(reasonOf(await verifier.verify(after))).toBe("active");
  });

  it("ready() rejects when Tokensmith refuses the verifier's client (wrong secret, or no token:introspect) instead of waiting forever", async () => {
    await expect(verifierFor(t, { clientSecret: "wrong" }).ready()).rejects.toThrow(/refused the verifier's client "orders-api"/);
    await expect(verifierFor(t, { clientId: holder.id, clientSecret: holder.secret }).ready()).rejects.toThrow(/refused the verifier's client "checkout"/);
  });

  it("before ready() and after close() it answers stale: it never accepts what it cannot check", async () => {
    const verifier = verifierFor(t);
    const token = await tokenOf();
    expect(reasonOf(await verifier.verify(token))).toBe("stale");
    await verifier.ready();
    expect(reasonOf(await verifier.verify(token))).toBe("active");
    await verifier.close();
    expect(reasonOf(await verifier.verify(token))).toBe("stale");
  });
});

describe("tokensmith/verifier while the feed cannot be read (Redis)", () => {
  const backend = redisBackend();
  let t: AdminTestServer;
  let keyPrefix: string;
  beforeAll(async () => {
    await backend.start();
    const config = backend.serverOptions().config;
    t = await startAdminServer(backend, { admin, clients: [resourceServer, holder], sharedConfig: config, config: { watchHeartbeatSeconds: 0.1 } });
    keyPrefix = (config.store as { keyPrefix: string }).keyPrefix;
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  /** Runs `body` while reads of the feed fail (WRONGTYPE) and everything else works. */
  const withBrokenFeed = (body: () => Promise<void>) => brokenFeed(backend.redis(), keyPrefix, body, { restore: true });

  const tokenOf = async () => (await t.tokens.issueClientToken({ audience: ["orders"] }, { headers: basic(holder.id, holder.secret) })).accessToken;

  it("fails closed once silent longer than maxStalenessMs, and trusts tokens again when heartbeats return", async () => {
    const verifier = verifierFor(t, { maxStalenessMs: 500 });
    await verifier.ready();
    const token = await tokenOf();
    expect(reasonOf(await verifier.verify(token))).toBe("active");
    await withBrokenFeed(async () => {
      await untilReason(verifier, token, "stale", 5_000);
      expect(verifier.status().stale).toBe(true);
    });
    await untilReason(verifier, token, "active", 5_000);
  });

  it("with onStale: introspect, asks Introspect per token while stale: active ones pass, revoked ones not", async () => {
    const verifier = verifierFor(t, { maxStalenessMs: 500, onStale: "introspect" });
    await verifier.ready();
    const kept = await tokenOf();
    const revoked = await tokenOf();
    await withBrokenFeed(async () => {
      await eventually(async () => verifier.status().stale, 5_000);
      // Unacknowledged (its feed entry cannot be written), but the revocation itself is written in the same pipeline.
      await expect(t.tokens.revoke({ token: revoked }, { headers: basic(holder.id, holder.secret) })).rejects.toThrow(/unavailable/i);
      expect((await t.tokens.introspect({ token: revoked }, { headers: basic(resourceServer.id, resourceServer.secret) })).active).toBe(false);
      expect(reasonOf(await verifier.verify(kept))).toBe("active");
      expect(reasonOf(await verifier.verify(revoked))).toBe("revoked");
    });
  });
});
