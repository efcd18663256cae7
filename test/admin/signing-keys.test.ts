import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_SCOPE, BACKENDS, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * AdminService: signing keys. Rotation publishes the new key in the JWKS
 * before it signs (signingKeys.publishDelaySeconds), and keeps the old key
 * published, and verifying, until the last token it signed has expired
 * (maxTokenLifetimeSeconds after the new key starts signing).
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
// Tokens as long-lived as allowed: the last one the old key signs lives until just before it retires.
const longLived = testClient("long-lived", ["orders:read"], { tokenLifetimeSeconds: 600 });
const PUBLISH_DELAY_MS = 60_000;
const MAX_TOKEN_LIFETIME_MS = 600_000;

describe.each(BACKENDS)("AdminService signing keys on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, clients: [resourceServer, longLived] });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const issue = async () => (await t.tokens.issueClientToken({}, { headers: basic(longLived.id, longLived.secret) })).accessToken;
  const kidOf = (token: string) => decodeJwt(token).header.kid as string;
  const jwks = async () => (await (await fetch(`${t.server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  const publishedKids = async () => (await jwks()).keys.map((key) => key.kid);
  const introspect = async (token: string) =>
    (await t.tokens.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) })).active;
  /** What a resource server does: verify offline against the JWKS it fetched. */
  const verifiesAgainstJwks = async (token: string) => {
    const keySet = createLocalJWKSet(await jwks());
    return jwtVerify(token, keySet, { issuer: t.server.domain.issuer, typ: "at+jwt", currentDate: new Date(t.clock.now()) }).then(
      () => true,
      () => false,
    );
  };

  it("ListSigningKeys: one key at start, signing, published, no retire time", async () => {
    const { keys } = await t.admin.listSigningKeys({});
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ alg: "EdDSA", active: true, published: true });
    expect(keys[0]!.retireTime).toBeUndefined();
    expect(await publishedKids()).toEqual([keys[0]!.kid]);
    expect(kidOf(await issue())).toBe(keys[0]!.kid);
  });

  it("RotateSigningKey: published first, signs after the delay; the old key verifies until it retires, then leaves the JWKS", async () => {
    const start = t.clock.now();
    const [old] = (await t.admin.listSigningKeys({})).keys;
    const oldKid = old!.kid;

    const { key: next } = await t.admin.rotateSigningKey({});
    const newKid = next!.kid;
    expect(newKid).not.toBe(oldKid);
    expect(next).toMatchObject({ alg: "EdDSA", active: false, published: true });
    expect(next!.retireTime).toBeUndefined();
    expect(timestampMs(next!.createTime!)).toBe(start);
    expect(timestampMs(next!.signStartTime!)).toBe(start + PUBLISH_DELAY_MS);

    // Published before it signs: resource servers can fetch it before they meet a token it signed.
    expect(await publishedKids()).toEqual([oldKid, newKid]);
    const listed = (await t.admin.listSigningKeys({})).keys;
    expect(listed.map((key) => [key.kid, key.active, key.published])).toEqual([
      [oldKid, true, true],
      [newKid, false, true],
    ]);
    const retireAt = start + PUBLISH_DELAY_MS + MAX_TOKEN_LIFETIME_MS;
    expect(timestampMs(listed[0]!.retireTime!)).toBe(retireAt);

    // Until the delay passes, the old key signs.
    t.clock.advance(PUBLISH_DELAY_MS - 1_000);
    const lastOld = await issue();
    expect(kidOf(lastOld)).toBe(oldKid);

    // Then the new one.
    t.clock.advance(1_000);
    const firstNew = await issue();
    expect(kidOf(firstNew)).toBe(newKid);
    expect((await t.admin.listSigningKeys({})).keys.map((key) => [key.kid, key.active])).toEqual([
      [oldKid, false],
      [newKid, true],
    ]);

    // The old key stays published and verifying while a token it signed may still be alive.
    t.clock.set(retireAt - 2_000);
    expect(await publishedKids()).toEqual([oldKid, newKid]);
    expect(await introspect(lastOld)).toBe(true);
    expect(await verifiesAgainstJwks(lastOld)).toBe(true);
    expect(await verifiesAgainstJwks(firstNew)).toBe(true);

    // At retire time it leaves the JWKS and nothing it signed verifies any more.
    t.clock.set(retireAt);
    expect(await publishedKids()).toEqual([newKid]);
    expect(t.server.domain.accessTokens.verify(lastOld)).toEqual({ ok: false, reason: "unknown_key" });
    expect(await introspect(lastOld)).toBe(false);
    const current = await issue();
    expect(kidOf(current)).toBe(newKid);
    expect(await introspect(current)).toBe(true);
    const afterRetire = (await t.admin.listSigningKeys({})).keys;
    expect(afterRetire.find((key) => key.kid === oldKid)).toMatchObject({ active: false, published: false });
    expect(afterRetire.find((key) => key.kid === newKid)).toMatchObject({ active: true, published: true });
    expect(afterRetire.find((key) => key.kid === newKid)!.retireTime).toBeUndefined();
  });

  it("the next rotation drops keys that have retired from the ring", async () => {
    const before = (await t.admin.listSigningKeys({})).keys.map((key) => key.kid);
    const { key } = await t.admin.rotateSigningKey({});
    const after = (await t.admin.listSigningKeys({})).keys.filter((entry) => entry.published).map((entry) => entry.kid);
    expect(after).toEqual([before[before.length - 1], key!.kid]);
    expect((await t.admin.listSigningKeys({})).keys.every((entry) => entry.published)).toBe(true);
  });
});
