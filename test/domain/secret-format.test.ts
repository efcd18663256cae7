import { describe, expect, it } from "vitest";
import {
  generateSecret,
  hashSecret,
  hasValidChecksum,
  isSecretHash,
  secretMatches,
  sha256,
  toBase62,
  tokenDigest,
  type SecretKind,
} from "../../src/domain/secret-format.js";
import { randomId, randomPoolBytes } from "../../src/domain/random-id.js";
import fc from "fast-check";
import { createHash } from "node:crypto";

/**
 * Secrets Tokensmith generates (client secrets, API keys) carry a
 * recognisable prefix and a checksum so secret scanners can find leaks, hold
 * at least 256 random bits, and are stored only as a hash compared in
 * constant time.
 */

const BASE62 = /^[0-9A-Za-z]+$/;
const CHECK_LENGTH = 6;

const kinds: [SecretKind, string][] = [
  ["client_secret", "tks_cs_"],
  ["api_key", "tks_ak_"],
];

/** Replaces the character at `index` with `replacement`, or with another base62 character. */
function mutate(secret: string, index: number, replacement = secret[index] === "A" ? "B" : "A"): string {
  return secret.slice(0, index) + replacement + secret.slice(index + 1);
}

describe.each(kinds)("generated %s", (kind, prefix) => {
  it(`starts with the prefix ${prefix}`, () => {
    expect(generateSecret(kind).startsWith(prefix)).toBe(true);
  });

  it("carries at least 256 bits in a base62 body, then a checksum", () => {
    const secret = generateSecret(kind);
    const body = secret.slice(prefix.length, -CHECK_LENGTH);
    expect(body).toMatch(BASE62);
    expect(body.length * Math.log2(62)).toBeGreaterThanOrEqual(256);
    expect(secret.slice(-CHECK_LENGTH)).toMatch(BASE62);
  });

  it("has a valid checksum", () => {
    expect(hasValidChecksum(generateSecret(kind), kind)).toBe(true);
  });

  it("fails the checksum after any one-character change, in the body or in the checksum itself", () => {
    const secret = generateSecret(kind);
    for (let index = prefix.length; index < secret.length; index++) {
      const changed = mutate(secret, index);
      expect(changed).not.toBe(secret);
      expect(hasValidChecksum(changed, kind), `change at position ${index}`).toBe(false);
    }
  });

  it.each([
    ["with a character dropped", (secret: string) => secret.slice(0, -1)],
    ["with a character added", (secret: string) => `${secret}A`],
    ["with a non-base62 character in the body", (secret: string) => mutate(secret, prefix.length + 10, "-")],
    ["without its prefix", (secret: string) => secret.slice(prefix.length)],
    ["in upper case", (secret: string) => secret.toUpperCase()],
  ])("fails the checksum %s", (_case, change) => {
    expect(hasValidChecksum(change(generateSecret(kind)), kind)).toBe(false);
  });

  it("is not valid as a secret of another kind", () => {
    const other = kinds.find(([candidate]) => candidate !== kind)?.[0] as SecretKind;
    expect(hasValidChecksum(generateSecret(kind), other)).toBe(false);
  });

  it("is unique across 1000 generations", () => {
    const secrets = new Set(Array.from({ length: 1000 }, () => generateSecret(kind)));
    expect(secrets.size).toBe(1000);
  });
});

describe("hashSecret", () => {
  it("never contains the secret, nor its random body", () => {
    for (const [kind, prefix] of kinds) {
      const secret = generateSecret(kind);
      const hash = hashSecret(secret);
      expect(hash).not.toContain(secret);
      expect(hash).not.toContain(secret.slice(prefix.length, prefix.length + 16));
    }
  });

  it("is a sha256$ hash that the config accepts, the same for the same secret and different for another", () => {
    const secret = generateSecret("client_secret");
    expect(isSecretHash(hashSecret(secret))).toBe(true);
    expect(hashSecret(secret)).toBe(hashSecret(secret));
    expect(hashSecret(secret)).not.toBe(hashSecret(generateSecret("client_secret")));
  });

  it.each([
    ["a plain secret", "tks_cs_notahash"],
    ["a hash without its prefix", hashSecret("x").slice("sha256$".length)],
    ["a truncated hash", hashSecret("x").slice(0, -1)],
    ["another algorithm", hashSecret("x").replace("sha256$", "md5$")],
  ])("isSecretHash refuses %s", (_case, value) => {
    expect(isSecretHash(value)).toBe(false);
  });
});

describe("secretMatches", () => {
  const current = generateSecret("client_secret");
  const previous = generateSecret("client_secret");
  const stranger = generateSecret("client_secret");

  it.each([
    ["the secret against its hash", current, [hashSecret(current)], true],
    ["another secret against the hash", stranger, [hashSecret(current)], false],
    ["the secret with one character changed", mutate(current, 12), [hashSecret(current)], false],
    ["the empty string", "", [hashSecret(current)], false],
    ["the hash itself presented as the secret", hashSecret(current), [hashSecret(current)], false],
    ["the new secret during rotation (first of two hashes)", current, [hashSecret(current), hashSecret(previous)], true],
    ["the old secret during rotation (second of two hashes)", previous, [hashSecret(current), hashSecret(previous)], true],
    ["the middle one of three hashes", previous, [hashSecret(stranger), hashSecret(previous), hashSecret(current)], true],
    ["a secret matching none of several hashes", stranger, [hashSecret(current), hashSecret(previous)], false],
    ["any secret when there are no hashes", current, [], false],
    ["the empty string when there are no hashes", "", [], false],
    ["a secret against a malformed stored hash", current, ["sha256$tooshort", "not a hash"], false],
    ["a secret against an all-zero digest", current, [`sha256$${Buffer.alloc(32).toString("base64url")}`], false],
  ])("%s → %s", (_case, secret, hashes, expected) => {
    expect(secretMatches(secret, hashes)).toBe(expected);
  });
});

describe("secret generation without BigInt (rejection-sampled base62, 40-bit checksum in a double)", () => {
  it("still accepts secrets issued by the earlier BigInt implementation, and refuses them mutated", () => {
    // Generated by the version before this change (base62 of a 256-bit BigInt; BigInt checksum).
    const earlier: [string, SecretKind][] = [
      ["tks_cs_0cCbp1Y0T4DjUEiu1xRtqMH3Q5EOgrHXy358qj8RMmHb3uZrM", "client_secret"],
      ["tks_ak_H9KHaPWupionlBQGzVY0x8c56PEuhyAjUywiHVtIOzPGaT5yG", "api_key"],
    ];
    for (const [secret, kind] of earlier) {
      expect(hasValidChecksum(secret, kind)).toBe(true);
      expect(hasValidChecksum(mutate(secret, 20), kind)).toBe(false);
    }
  });

  it("computes the checksum digits exactly as BigInt arithmetic does, for any 40-bit value", () => {
    const bigintBase62 = (value: bigint, length: number) => {
      const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
      let out = "";
      for (let n = value; out.length < length; n /= 62n) out = alphabet[Number(n % 62n)] + out;
      return out;
    };
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }), (value) => toBase62(Number(value), 6) === bigintBase62(value, 6)),
      { numRuns: 2000 },
    );
    expect(toBase62(2 ** 40 - 1, 6)).toBe(bigintBase62(2n ** 40n - 1n, 6));
  });

  it("draws every base62 character about equally often (no modulo bias)", () => {
    const counts = new Map<string, number>();
    const secrets = 2_000;
    for (let i = 0; i < secrets; i++) {
      for (const char of generateSecret("grant").slice("tks_gr_".length, -CHECK_LENGTH)) counts.set(char, (counts.get(char) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    const expected = (secrets * 43) / 62; // ≈ 1,387, standard deviation ≈ 37
    for (const [char, count] of counts) expect(Math.abs(count - expected), char).toBeLessThan(expected * 0.15);
  });

  it("never repeats a secret or a jti, and the random pool refuses sizes it cannot serve", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) seen.add(generateSecret("grant"));
    for (let i = 0; i < 5_000; i++) seen.add(randomId());
    expect(seen.size).toBe(10_000);
    expect(() => randomPoolBytes(8193)).toThrow(RangeError);
    expect(() => randomPoolBytes(-1)).toThrow(RangeError);
    expect(randomPoolBytes(8192)).toHaveLength(8192);
  });
});

describe("sha256 (one-shot crypto.hash where Node has it)", () => {
  it("gives the bytes of createHash for any string, lone surrogates included, as Buffer and as base64url", () => {
    const strings = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)) }));
    fc.assert(
      fc.property(strings, (text) => {
        const expected = createHash("sha256").update(text, "utf8").digest();
        expect(sha256(text)).toEqual(expected);
        expect(sha256(text, "base64url")).toBe(expected.toString("base64url"));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps the stored forms: hashSecret and tokenDigest of known inputs", () => {
    // SHA-256("abc") from FIPS 180-2, base64url.
    expect(tokenDigest("abc")).toBe("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    expect(hashSecret("abc")).toBe("sha256$ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    expect(Buffer.isBuffer(sha256("abc"))).toBe(true);
  });
});
