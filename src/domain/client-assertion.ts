import {
  createLocalJWKSet,
  decodeJwt,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from "jose";
import { isCanonicalCompactJws } from "../keys/canonical-base64url.js";
import { clockedKeySet } from "../keys/clocked-key-set.js";
import type { Store } from "../store/store.js";
import { storeKeys, StoreUnavailableError } from "../store/store.js";
import type { ClientAssertionVerifier } from "./client-authenticator.js";
import type { Client, ClientRegistry } from "./client.js";
import type { Clock } from "./clock.js";
import { JwksUriError } from "./jwks-uri-policy.js";
import { invalidClient, OAuthError } from "./oauth-error.js";

/** Asymmetric algorithms only: never `none`, never HS* (a shared secret is not a private key). */
export const ASSERTION_ALGORITHMS = ["EdDSA", "Ed25519", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const CLOCK_SKEW_SECONDS = 30;
const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
const MAX_ASSERTION_LENGTH = 8192;

/**
 * private_key_jwt (RFC 7523 §3, OIDC Core §9): the client signs a JWT with
 * iss = sub = client_id, aud = our issuer or token endpoint, a near `exp`, and
 * a `jti` used once. The replay cache lives in the Store (SET NX until `exp`)
 * so a replay is refused by every instance.
 */
export class JwtClientAssertionVerifier implements ClientAssertionVerifier {
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();

  constructor(
    private readonly deps: {
      clients: ClientRegistry;
      store: Store;
      clock: Clock;
      audiences: readonly string[];
      /** How a jwks_uri is fetched: bounded, policy-checked (see keys/jwks-uri-fetch.ts). Without it, jwks_uri clients cannot authenticate. */
      fetchJwks?: FetchImplementation;
    },
  ) {}

  async verify(assertion: string, claimedClientId: string | undefined): Promise<Client> {
    if (assertion.length > MAX_ASSERTION_LENGTH) throw invalidClient("client assertion is too large");
    // jose decodes leniently: other spellings of one signed assertion would pass.
    if (!isCanonicalCompactJws(assertion)) throw invalidClient("client assertion is not a well-formed JWT (three canonical base64url segments)");
    let unverifiedIssuer: unknown;
    try {
      unverifiedIssuer = decodeJwt(assertion).iss;
    } catch {
      throw invalidClient("client assertion is not a well-formed JWT");
    }
    if (typeof unverifiedIssuer !== "string" || unverifiedIssuer.length === 0) throw invalidClient("client assertion has no iss");
    if (claimedClientId !== undefined && claimedClientId !== unverifiedIssuer) {
      throw invalidClient("client_id does not match the client assertion's iss");
    }
    const client = await this.deps.clients.find(unverifiedIssuer);
    const keySet = client && this.keySetOf(client);
    if (client === undefined || keySet === undefined) throw invalidClient();

    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, keySet, {
        algorithms: ASSERTION_ALGORITHMS,
        issuer: client.id,
        subject: client.id,
        audience: [...this.deps.audiences],
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: new Date(this.deps.clock.now()),
        requiredClaims: ["exp", "jti", "iss", "sub", "aud"],
      }));
    } catch (error) {
      throw invalidClient(describeJoseFailure(error));
    }
    const nowSeconds = this.deps.clock.now() / 1000;
    const exp = payload.exp as number;
    if (exp - nowSeconds > MAX_ASSERTION_LIFETIME_SECONDS) {
      throw invalidClient(`client assertion expires too far in the future (at most ${MAX_ASSERTION_LIFETIME_SECONDS} s)`);
    }
    const jti = payload.jti as string;
    if (jti.length === 0 || jti.length > 256) throw invalidClient("client assertion jti must be 1-256 characters");
    const ttlMs = Math.ceil((exp + CLOCK_SKEW_SECONDS - nowSeconds) * 1000);
    const firstUse = await this.deps.store.set(storeKeys.assertionJti(client.id, jti), "1", { ttlMs, onlyIfAbsent: true });
    if (!firstUse) throw invalidClient("client assertion was already used (jti replayed)");
    return client;
  }

  private keySetOf(client: Client): JWTVerifyGetKey | undefined {
    // Keys of a client not registered for private_key_jwt are not used, nor is its jwks_uri fetched.
    if (!client.tokenEndpointAuthMethods.includes("private_key_jwt")) return undefined;
    if (client.jwks !== undefined) return createLocalJWKSet(client.jwks as JSONWebKeySet);
    if (client.jwksUri === undefined || this.deps.fetchJwks === undefined) return undefined;
    let keySet = this.remoteKeySets.get(client.jwksUri);
    if (keySet === undefined) {
      keySet = clockedKeySet(client.jwksUri, this.deps.fetchJwks, this.deps.clock);
      this.remoteKeySets.set(client.jwksUri, keySet);
    }
    return keySet;
  }
}

function describeJoseFailure(error: unknown): string {
  if (error instanceof StoreUnavailableError) throw error;
  if (error instanceof errors.JWTExpired) return "client assertion has expired";
  if (error instanceof errors.JWTClaimValidationFailed) return `client assertion claim "${error.claim}" is invalid (${error.reason})`;
  if (error instanceof errors.JOSEAlgNotAllowed) return "client assertion algorithm is not allowed";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "client assertion signature is invalid";
  if (error instanceof errors.JWKSNoMatchingKey) return "no registered key matches the client assertion";
  if (error instanceof JwksUriError) {
    throw new OAuthError("invalid_client", "unauthenticated", "the client's jwks_uri could not be read", { cause: error });
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JOSEError && error.code === "ERR_JWKS_INVALID") {
    return "the client's jwks_uri could not be read";
  }
  return "client assertion is invalid";
}
