import { createPrivateKey, sign, verify } from "node:crypto";
import fc from "fast-check";
import { calculateJwkThumbprint } from "jose";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { ed25519Engine, libsodiumEd25519, loadLibsodium, nodeCryptoEd25519, type Ed25519Engine } from "../../src/keys/ed25519.js";
import { signatureOf, verifySignature } from "../../src/keys/jws.js";
import { deserializeSigningKey, generateSigningKey, serializeSigningKey, type SigningKey } from "../../src/keys/signing-key.js";

/**
 * libsodium (sodium-native) and node:crypto (OpenSSL) must be interchangeable:
 * Ed25519 is deterministic, so for the same key and message both give the
 * same 64 bytes, and each verifies what the other signed.
 */

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte, 0x72).
const RFC8032 = [
  {
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
];

const libsodium = libsodiumEd25519!;
const engines: Array<[string, Ed25519Engine]> = [
  ["libsodium", libsodium],
  ["node:crypto", nodeCryptoEd25519],
];

/** A signing key from a 32-byte seed (PKCS#8 DER of an Ed25519 key is a fixed 16-byte prefix and the seed). */
async function keyFromSeed(seedHex: string, engine: Ed25519Engine): Promise<SigningKey> {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seedHex, "hex")]);
  const privateJwk = createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({ format: "jwk" });
  const kid = await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: privateJwk.x as string });
  return deserializeSigningKey({ kid, alg: "EdDSA", createdAt: 0, privateJwk }, engine);
}

describe("Ed25519 engines", () => {
  it("libsodium's addon loads on this platform and is the default engine", () => {
    expect(libsodiumEd25519).toBeDefined();
    expect(ed25519Engine().name).toBe("libsodium");
    expect(ed25519Engine("libsodium")).toBe(libsodiumEd25519);
    expect(ed25519Engine("node")).toBe(nodeCryptoEd25519);
    expect(libsodium.modulePath).toMatch(/sodium-native/);
    expect(nodeCryptoEd25519.modulePath).toBeUndefined();
  });

  it("where the addon does not load, libsodium is unavailable and node:crypto signs", () => {
    const missing = Object.assign(
      () => {
        throw new Error("Cannot find module 'sodium-native'");
      },
      { resolve: () => "/nowhere/sodium-native/index.js" },
    ) as unknown as NodeJS.Require;
    const libsodium = loadLibsodium(missing);
    expect(libsodium).toBeUndefined();
    expect(ed25519Engine("libsodium", { libsodium })).toBe(nodeCryptoEd25519);
  });

  it.each(engines)("%s gives the RFC 8032 test vectors", async (_name, engine) => {
    for (const vector of RFC8032) {
      const key = await keyFromSeed(vector.seed, engine);
      expect(Buffer.from(key.ed25519!.rawPublicKey).toString("hex")).toBe(vector.publicKey);
      expect(Buffer.from(key.ed25519!.secretKey).toString("hex")).toBe(vector.seed + vector.publicKey);
      const message = Buffer.from(vector.message, "hex");
      expect(engine.sign(key.ed25519!, message).toString("hex")).toBe(vector.signature);
      expect(engine.verify(key.ed25519!, message, Buffer.from(vector.signature, "hex"))).toBe(true);
    }
  });

  it("libsodium and node:crypto sign every message alike, and each verifies the other's signatures", async () => {
    const keys = await Promise.all(Array.from({ length: 4 }, () => generateSigningKey("EdDSA", 0, libsodium)));
    fc.assert(
      fc.property(fc.nat({ max: keys.length - 1 }), fc.uint8Array({ maxLength: 600 }), (k, bytes) => {
        const key = keys[k]!.ed25519!;
        const message = Buffer.from(bytes);
        const bySodium = libsodium.sign(key, message);
        const byOpenssl = sign(null, message, key.privateKey);
        expect(bySodium.equals(byOpenssl)).toBe(true);
        expect(libsodium.verify(key, message, byOpenssl)).toBe(true);
        expect(verify(null, message, key.publicKey, bySodium)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it.each(engines)("%s refuses a changed message, a changed signature, another key's signature and a short signature", async (_name, engine) => {
    const key = (await generateSigningKey("EdDSA", 0, engine)).ed25519!;
    const other = (await generateSigningKey("EdDSA", 0, engine)).ed25519!;
    const message = Buffer.from("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0");
    const signature = engine.sign(key, message);
    expect(engine.verify(key, message, signature)).toBe(true);
    expect(engine.verify(key, Buffer.from("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ5In0"), signature)).toBe(false);
    for (const bit of [0, 7, 255, 256, 511]) {
      const flipped = Buffer.from(signature);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(engine.verify(key, message, flipped), `bit ${bit}`).toBe(false);
    }
    expect(engine.verify(other, message, signature)).toBe(false);
    expect(engine.verify(key, message, signature.subarray(0, 63))).toBe(false);
  });

  it("a token signed by one engine verifies with a key loaded by the other (the same key ring, either engine)", async () => {
    const signer = await generateSigningKey("EdDSA", 0, libsodium);
    const loaded = await deserializeSigningKey(serializeSigningKey(signer), nodeCryptoEd25519);
    expect(loaded.kid).toBe(signer.kid);
    expect(loaded.ed25519!.engine).toBe(nodeCryptoEd25519);
    const input = `${signer.encodedHeader}.eyJzdWIiOiJ4In0`;
    const signature = signatureOf(signer, input);
    expect(signatureOf(loaded, input)).toBe(signature);
    expect(verifySignature(loaded, input, Buffer.from(signature, "base64url"))).toBe(true);
    expect(verifySignature(signer, `${input}x`, Buffer.from(signature, "base64url"))).toBe(false);
  });

  it("ES256 keys have no Ed25519 part and still sign with node:crypto", async () => {
    const key = await generateSigningKey("ES256", 0, libsodium);
    expect(key.ed25519).toBeUndefined();
    const signature = signatureOf(key, "a.b");
    expect(verify("sha256", Buffer.from("a.b"), { key: key.publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(signature, "base64url"))).toBe(true);
  });

  it("TOKENSMITH_ED25519 chooses the engine; anything but libsodium or node is a configuration error", () => {
    expect(loadConfig({}).ed25519).toBe("libsodium");
    expect(loadConfig({ TOKENSMITH_ED25519: "node" }).ed25519).toBe("node");
    expect(loadConfig({ TOKENSMITH_ED25519: "libsodium" }).ed25519).toBe("libsodium");
    expect(() => loadConfig({ TOKENSMITH_ED25519: "openssl" })).toThrow(/ed25519/);
  });
});
