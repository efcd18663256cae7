import { sign, verify } from "node:crypto";
import type { SigningKey } from "./signing-key.js";

/** `base64url(header) "." base64url(payload)`: what a compact JWS (RFC 7515 §7.1) signs. */
export function signingInputOf(key: SigningKey, payload: object): string {
  return `${key.encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
}

/**
 * The base64url signature of a signing input, synchronously: Ed25519 with
 * the key's engine (libsodium or node:crypto), ES256 with node:crypto
 * (either is about six times faster per call than an async WebCrypto path).
 * The signing threads (signing-thread.ts) call this same function.
 */
export function signatureOf(key: Pick<SigningKey, "privateKey" | "ed25519">, signingInput: string): string {
  const data = Buffer.from(signingInput);
  const signature =
    key.ed25519 !== undefined
      ? key.ed25519.engine.sign(key.ed25519, data)
      : sign("sha256", data, { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  return signature.toString("base64url");
}

export function verifySignature(key: SigningKey, signingInput: string, signature: Buffer): boolean {
  if (signature.length !== 64) return false; // Ed25519 and P-256 (IEEE P1363) signatures are 64 bytes
  const data = Buffer.from(signingInput);
  return key.ed25519 !== undefined
    ? key.ed25519.engine.verify(key.ed25519, data, signature)
    : verify("sha256", data, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, signature);
}
