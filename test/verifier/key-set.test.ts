import { exportJWK, generateKeyPair } from "jose";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeySet } from "../../src/verifier/key-set.js";

/**
 * The verifier's keys: the JWKS as fetched, less what the revocation feed
 * retired. A fetch that started before a retirement (or a JWKS served late
 * by a cache) must not bring a retired key back: a deleted tenant's keys
 * once came back that way, and its tokens verified again.
 */
let server: http.Server;
let jwks: object;
let jwksUri: string;
beforeAll(async () => {
  const { publicKey } = await generateKeyPair("EdDSA");
  jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "EdDSA", use: "sig" }] };
  server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("KeySet", () => {
  it("keeps a key the feed retired out, even when a later fetch still lists it", async () => {
    const keys = new KeySet({ jwksUri, minRefetchMs: 0, timeoutMs: 5_000 });
    await keys.load();
    expect(keys.kids).toEqual(["k1"]);
    expect(keys.retain([])).toBe(false);
    expect(keys.kids).toEqual([]);
    await keys.load();
    expect(keys.kids).toEqual([]);
  });

  it("takes a key the feed has not named yet (published since): rotation publishes before it signs", async () => {
    const keys = new KeySet({ jwksUri, minRefetchMs: 0, timeoutMs: 5_000 });
    expect(keys.retain(["k1"])).toBe(true);
    await keys.load();
    expect(keys.kids).toEqual(["k1"]);
  });
});
