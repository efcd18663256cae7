import * as nodeCrypto from "node:crypto";
import { createHash, timingSafeEqual } from "node:crypto";
import { randomPoolBytes } from "./random-id.js";

/**
 * Secrets Tokensmith generates: `tks_<kind>_<body><check>`.
 * - `body`: 256 random bits in base62 (43 characters, double-click selectable);
 * - `check`: 6 base62 characters of SHA-256 over prefix and body, so secret
 *   scanners can tell a real Tokensmith secret from random noise offline.
 * Stored only as `sha256$<base64url digest>`: the secret has 256 bits of
 * entropy, so a fast hash is as unforgeable as a slow one and keeps client
 * authentication cheap.
 */
export type SecretKind = "client_secret" | "api_key" | "grant";

const KIND_PREFIX: Record<SecretKind, string> = {
  client_secret: "tks_cs_",
  api_key: "tks_ak_",
  grant: "tks_gr_",
};

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE62_CODES = Buffer.from(BASE62, "latin1");
const BODY_LENGTH = 43; // ceil(256 / log2(62))
/** Reused by randomBody, which copies out of it before returning. */
const BODY_SCRATCH = Buffer.alloc(BODY_LENGTH);
const CHECK_LENGTH = 6;

type OneShotHash = (algorithm: string, data: string, outputEncoding: string) => string | Buffer;
/** Node ≥ 20.12's one-shot `crypto.hash`; undefined on older Node 20. */
const oneShotHash = (nodeCrypto as { hash?: OneShotHash }).hash;

/**
 * SHA-256 of a string. With Node's one-shot `crypto.hash` when it has one:
 * a `Hash` object per call is a native object with a weak handle, and under
 * load their finalization was most of each scavenge pause (`--trace-gc-nvp`:
 * heap.external_weak_global_handles 1.7 ms of 2.7 ms).
 */
export function sha256(data: string): Buffer;
export function sha256(data: string, encoding: "base64url"): string;
export function sha256(data: string, encoding?: "base64url"): Buffer | string {
  if (oneShotHash !== undefined) {
    if (encoding !== undefined) return oneShotHash("sha256", data, encoding);
    // A Buffer straight from crypto.hash owns a fresh ArrayBuffer (1.46 µs a
    // call here); hex decoded into Node's buffer pool costs 0.52 µs.
    return Buffer.from(oneShotHash("sha256", data, "hex") as string, "hex");
  }
  const hash = createHash("sha256").update(data, "utf8");
  return encoding === undefined ? hash.digest() : hash.digest(encoding);
}

/** `length` base62 digits of a non-negative integer below 2^53, most significant first. */
export function toBase62(value: number, length: number): string {
  let n = value;
  let out = "";
  while (out.length < length) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** The first 40 bits of SHA-256(prefix + body) as 6 base62 digits. */
function checksum(prefixAndBody: string): string {
  return toBase62(sha256(prefixAndBody).readUIntBE(0, 5), CHECK_LENGTH);
}

/**
 * A secret's body: uniform base62 characters by rejection, the low 6 bits of
 * a random byte kept when below 62. 43 characters carry 43·log2(62) ≈
 * 256.03 bits. Character codes go into a scratch buffer and become one
 * string at the end (a character at a time cost ~1.5 µs per secret).
 */
function randomBody(): string {
  let filled = 0;
  while (filled < BODY_LENGTH) {
    // A few spare bytes: each is rejected with probability 2/64.
    const bytes = randomPoolBytes(BODY_LENGTH - filled + 4);
    for (let i = 0; i < bytes.length && filled < BODY_LENGTH; i++) {
      const digit = (bytes[i] as number) & 63;
      if (digit < 62) BODY_SCRATCH[filled++] = BASE62_CODES[digit] as number;
    }
  }
  return BODY_SCRATCH.toString("latin1");
}

export function generateSecret(kind: SecretKind): string {
  const prefix = KIND_PREFIX[kind];
  const body = randomBody();
  return prefix + body + checksum(prefix + body);
}

/** True when `value` looks like a secret of `kind` and its checksum matches. */
export function hasValidChecksum(value: string, kind: SecretKind): boolean {
  const prefix = KIND_PREFIX[kind];
  if (value.length !== prefix.length + BODY_LENGTH + CHECK_LENGTH || !value.startsWith(prefix)) return false;
  const body = value.slice(prefix.length, prefix.length + BODY_LENGTH);
  if (!/^[0-9A-Za-z]+$/.test(body)) return false;
  return checksum(prefix + body) === value.slice(prefix.length + BODY_LENGTH);
}

const HASH_PREFIX = "sha256$";

export function hashSecret(secret: string): string {
  return HASH_PREFIX + sha256(secret, "base64url");
}

/** A stored hash: `sha256$` and a base64url SHA-256 digest. */
const SECRET_HASH = /^sha256\$[A-Za-z0-9_-]{43}$/;

export function isSecretHash(value: string): boolean {
  return SECRET_HASH.test(value);
}

const SECRET_KINDS = Object.keys(KIND_PREFIX) as SecretKind[];
/** What may be a secret of any kind (its prefix, body and check), or a stored hash, anywhere in a text. */
const SECRET_CANDIDATE = new RegExp(
  `(?:${Object.values(KIND_PREFIX).join("|")})[0-9A-Za-z]{${BODY_LENGTH + CHECK_LENGTH}}|${SECRET_HASH.source.slice(1, -1)}`,
  "g",
);

/**
 * Whether `text` holds a Tokensmith secret (its checksum valid) or a stored
 * hash anywhere: what is never kept as an id or a name, nor written to the
 * audit trail or a log (an administrator pasting a secret into the wrong field).
 */
export function containsSecret(text: string): boolean {
  for (const [candidate] of text.matchAll(SECRET_CANDIDATE)) {
    if (candidate.startsWith(HASH_PREFIX) || SECRET_KINDS.some((kind) => hasValidChecksum(candidate, kind))) return true;
  }
  return false;
}

/** Digest used as a storage key for opaque tokens (grants). */
export function tokenDigest(token: string): string {
  return sha256(token, "base64url");
}

const DUMMY_DIGEST = Buffer.alloc(32);

/**
 * Constant-time check of `secret` against stored hashes. Always does the
 * same work, whether or not there is anything to compare against, so timing
 * does not tell whether a client id exists.
 */
export function secretMatches(secret: string, storedHashes: readonly string[]): boolean {
  const presented = sha256(secret);
  const candidates = storedHashes.length > 0 ? storedHashes : [null];
  let matched = false;
  for (const stored of candidates) {
    const expected = stored === null ? DUMMY_DIGEST : decodeHash(stored);
    // Evaluate every candidate: no early exit.
    matched = timingSafeEqual(presented, expected) && stored !== null ? true : matched;
  }
  return matched;
}

function decodeHash(stored: string): Buffer {
  if (!stored.startsWith(HASH_PREFIX)) return DUMMY_DIGEST;
  const digest = Buffer.from(stored.slice(HASH_PREFIX.length), "base64url");
  return digest.length === 32 ? digest : DUMMY_DIGEST;
}
