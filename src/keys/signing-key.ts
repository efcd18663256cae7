import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint } from "jose";

export type SigningAlgorithm = "EdDSA" | "ES256";
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ["EdDSA", "ES256"];

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
}

/** The persisted form (private key as JWK); encryption at rest is the persistence's job. */
export interface SerializedSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  privateJwk: JsonWebKey;
}

export async function generateSigningKey(alg: SigningAlgorithm, createdAt: number): Promise<SigningKey> {
  const { privateKey } =
    alg === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return fromPrivateKey(privateKey, alg, createdAt);
}

export async function deserializeSigningKey(serialized: SerializedSigningKey): Promise<SigningKey> {
  const privateKey = createPrivateKey({ key: serialized.privateJwk, format: "jwk" });
  const key = await fromPrivateKey(privateKey, serialized.alg, serialized.createdAt);
  if (key.kid !== serialized.kid) throw new Error(`signing key ${serialized.kid}: kid does not match its key material`);
  return key;
}

export function serializeSigningKey(key: SigningKey): SerializedSigningKey {
  return { kid: key.kid, alg: key.alg, createdAt: key.createdAt, privateJwk: key.privateKey.export({ format: "jwk" }) };
}

async function fromPrivateKey(privateKey: KeyObject, alg: SigningAlgorithm, createdAt: number): Promise<SigningKey> {
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
  return { kid, alg, createdAt, privateKey, publicKey, publicJwk, encodedHeader };
}
