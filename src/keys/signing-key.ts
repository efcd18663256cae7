import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import { ed25519Engine, type Ed25519Engine, type Ed25519Key } from "./ed25519.js";

export type SigningAlgorithm = "EdDSA" | "ES256";

/** A public JWK as published in the JWKS (RFC 7517). */
export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  y?: string;
  kid: string;
  alg: SigningAlgorithm;
  use: "sig";
}

/** A signing key ready for synchronous node:crypto use on the hot path. */
export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: PublicJwk;
  /** base64url of the JWS header `{alg, kid, typ: "at+jwt"}`, computed once. */
  encodedHeader: string;
  /** EdDSA keys only: the key in raw form too, and the engine that signs and verifies with it. */
  ed25519?: Ed25519Key & { engine: Ed25519Engine };
}

/** The persisted form (private key as JWK); encryption at rest is the persistence's job. */
export interface SerializedSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  privateJwk: JsonWebKey;
}

export async function generateSigningKey(alg: SigningAlgorithm, createdAt: number, engine = ed25519Engine()): Promise<SigningKey> {
  const { privateKey } =
    alg === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return fromPrivateKey(privateKey, alg, createdAt, engine);
}

export async function deserializeSigningKey(serialized: SerializedSigningKey, engine = ed25519Engine()): Promise<SigningKey> {
  const privateKey = createPrivateKey({ key: serialized.privateJwk, format: "jwk" });
  const key = await fromPrivateKey(privateKey, serialized.alg, serialized.createdAt, engine);
  if (key.kid !== serialized.kid) throw new Error(`signing key ${serialized.kid}: kid does not match its key material`);
  return key;
}

export function serializeSigningKey(key: SigningKey): SerializedSigningKey {
  return { kid: key.kid, alg: key.alg, createdAt: key.createdAt, privateJwk: key.privateKey.export({ format: "jwk" }) };
}

async function fromPrivateKey(privateKey: KeyObject, alg: SigningAlgorithm, createdAt: number, engine: Ed25519Engine): Promise<SigningKey> {
  const expectedType = alg === "EdDSA" ? "ed25519" : "ec";
  if (privateKey.asymmetricKeyType !== expectedType) throw new Error(`key type ${privateKey.asymmetricKeyType} does not fit ${alg}`);
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: "jwk" });
  if (typeof jwk.kty !== "string" || typeof jwk.crv !== "string" || typeof jwk.x !== "string") {
    throw new Error("unexpected public key export");
  }
  // RFC 7638 thumbprint: stable, derived from the key, so every instance agrees on it.
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y ? { y: jwk.y } : {}) });
  const publicJwk: PublicJwk = {
    kty: jwk.kty,
    crv: jwk.crv,
    x: jwk.x,
    ...(typeof jwk.y === "string" ? { y: jwk.y } : {}),
    kid,
    alg,
    use: "sig",
  };
  const encodedHeader = Buffer.from(JSON.stringify({ alg, kid, typ: "at+jwt" })).toString("base64url");
  const key: SigningKey = { kid, alg, createdAt, privateKey, publicKey, publicJwk, encodedHeader };
  if (alg === "EdDSA") key.ed25519 = { engine, privateKey, publicKey, ...rawEd25519(privateKey, jwk.x) };
  return key;
}

/** libsodium's form of an Ed25519 key: seed ‖ public key, and the public key alone. */
function rawEd25519(privateKey: KeyObject, x: string): Pick<Ed25519Key, "secretKey" | "rawPublicKey"> {
  const { d } = privateKey.export({ format: "jwk" });
  const seed = typeof d === "string" ? Buffer.from(d, "base64url") : Buffer.alloc(0);
  const rawPublicKey = Buffer.from(x, "base64url");
  if (seed.length !== 32 || rawPublicKey.length !== 32) throw new Error("unexpected Ed25519 key export");
  // A buffer of its own (not a slice of Node's pool), so the secret shares memory with nothing else.
  const secretKey = new Uint8Array(64);
  secretKey.set(seed, 0);
  secretKey.set(rawPublicKey, 32);
  seed.fill(0);
  return { secretKey, rawPublicKey: new Uint8Array(rawPublicKey) };
}
