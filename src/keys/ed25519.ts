import { sign, verify, type KeyObject } from "node:crypto";
import { createRequire } from "node:module";

/** An Ed25519 key in both forms: node:crypto's KeyObjects and libsodium's raw bytes. */
export interface Ed25519Key {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** libsodium's secret key: the 32-byte seed followed by the 32-byte public key. */
  secretKey: Uint8Array;
  /** The 32-byte public key (the JWK's `x`). */
  rawPublicKey: Uint8Array;
}

/**
 * Who computes Ed25519 (RFC 8032) signatures. Ed25519 is deterministic, so
 * every engine gives the same signature byte for byte.
 */
export interface Ed25519Engine {
  readonly name: "libsodium" | "node:crypto";
  /** Where the addon was loaded from (for diagnostics); undefined for node:crypto. */
  readonly modulePath: string | undefined;
  sign(key: Ed25519Key, data: Uint8Array): Buffer;
  verify(key: Ed25519Key, data: Uint8Array, signature: Uint8Array): boolean;
}

/** The two calls of sodium-native we use (it ships no types). */
interface Sodium {
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

export const nodeCryptoEd25519: Ed25519Engine = {
  name: "node:crypto",
  modulePath: undefined,
  sign: (key, data) => sign(null, data, key.privateKey),
  verify: (key, data, signature) => verify(null, data, key.publicKey, signature),
};

/** libsodium's engine, or undefined when the addon does not load (`require` is replaceable for tests). */
export function loadLibsodium(require: NodeJS.Require = createRequire(import.meta.url)): Ed25519Engine | undefined {
  let modulePath: string;
  let sodium: Sodium;
  try {
    modulePath = require.resolve("sodium-native");
    sodium = require(modulePath) as Sodium;
  } catch {
    // No prebuilt addon for this platform: node:crypto signs.
    return undefined;
  }
  return {
    name: "libsodium",
    modulePath,
    sign(key, data) {
      const signature = Buffer.allocUnsafe(64);
      sodium.crypto_sign_detached(signature, data, key.secretKey);
      return signature;
    },
    verify: (key, data, signature) => signature.length === 64 && sodium.crypto_sign_verify_detached(signature, data, key.rawPublicKey),
  };
}

/** libsodium through sodium-native, when its prebuilt addon loads here. */
export const libsodiumEd25519 = loadLibsodium();

/**
 * The engine for `ed25519` in the configuration: libsodium (the default) when
 * its addon loads here, else node:crypto. libsodium signs in ~15 µs and
 * verifies in ~46 µs on the 2-core bench machine, node:crypto (OpenSSL 3.0)
 * in ~27 and ~80 µs (`npx tsx bench/ed25519.ts`).
 */
export function ed25519Engine(
  choice: "libsodium" | "node" = "libsodium",
  available: { libsodium: Ed25519Engine | undefined } = { libsodium: libsodiumEd25519 },
): Ed25519Engine {
  return choice === "libsodium" ? (available.libsodium ?? nodeCryptoEd25519) : nodeCryptoEd25519;
}
