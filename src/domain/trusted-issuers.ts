import { createLocalJWKSet, decodeJwt, jwtVerify, type FetchImplementation, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Logger } from "pino";
import { isCanonicalCompactJws } from "../keys/canonical-base64url.js";
import type { Store } from "../store/store.js";
import { storeKeys, StoreUnavailableError } from "../store/store.js";
import { ASSERTION_ALGORITHMS } from "./client-assertion.js";
import { clockedKeySet } from "../keys/clocked-key-set.js";
import type { Client, ClientRegistry } from "./client.js";
import type { Clock } from "./clock.js";
import type { TrustedIssuerRegistry } from "./trusted-issuer-registry.js";
import { invalidClient } from "./oauth-error.js";

/** A claim condition's value: the token's claim must be equal, type included (or, for an array claim, hold it). */
export type ClaimValue = string | number | boolean;

/** Which client an external subject acts as. */
export interface SubjectMapping {
  /** The token's `sub`, exactly; or, ending in `*`, every `sub` starting with what precedes it. */
  subject: string;
  clientId: string;
  /** Claims the token must carry with these values, besides the subject. */
  claims?: Readonly<Record<string, ClaimValue>>;
}

/** An external issuer whose JWTs Tokensmith accepts (workload identity federation). */
export interface TrustedIssuer {
  /** The `iss` of its tokens, exactly. */
  issuer: string;
  /** Its public keys, inline... */
  jwks?: { keys: readonly object[] };
  /** ...or fetched from a URL, with the limits and address policy of clients' jwks_uris. */
  jwksUri?: string;
  /** Its tokens must name one of these in `aud`. */
  audiences: readonly string[];
  /** Tried in order: the first whose subject and claims match decides. */
  subjectMapping: readonly SubjectMapping[];
}

/** An external token that verified, and the client its subject maps to. */
export interface FederatedIdentity {
  issuer: string;
  subject: string;
  client: Client;
  /** Seconds since the epoch. */
  exp: number;
}

const CLOCK_SKEW_SECONDS = 30;
/** Replay records last until the token expires: a token living longer than this is refused, so they stay bounded. */
const MAX_TOKEN_LIFETIME_SECONDS = 86_400;
const MAX_TOKEN_LENGTH = 16_384;

/** Why a token was refused: logged, never told to the caller (every refusal looks the same). */
class Refusal extends Error {}

/**
 * Tokens of trusted external issuers (Kubernetes service-account tokens,
 * GitHub Actions OIDC tokens, any OIDC workload issuer): signature by the
 * issuer's keys, `aud` one of its audiences, `exp` (and `nbf`) within a
 * bounded skew, an asymmetric algorithm, and a subject mapping whose claim
 * conditions hold. As a client assertion the token's `jti`, when it has one,
 * is used once (the store remembers it until `exp`, on every instance).
 */
export class TrustedIssuers {
  /** The key set of each issuer seen, kept while its keys (jwks or jwksUri) stay the same: a remote set keeps its cache. */
  private readonly keySets = new Map<string, { source: string; keys: JWTVerifyGetKey }>();

  constructor(
    private readonly deps: {
      /** Declared in the config file and stored through the AdminService. */
      issuers: TrustedIssuerRegistry;
      clients: ClientRegistry;
      store: Store;
      clock: Clock;
      /** How a jwksUri is fetched: bounded, policy-checked (keys/jwks-uri-fetch.ts). */
      fetchJwks: FetchImplementation;
      logger?: Pick<Logger, "info">;
    },
  ) {}

  /** Whether a JWT says a trusted issuer issued it (unverified: decides which verifier reads it). Rejects only when the store cannot tell. */
  async issued(token: string): Promise<boolean> {
    if (token.length > MAX_TOKEN_LENGTH) return false;
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return false;
    }
    return typeof iss === "string" && iss.length > 0 && iss.length <= 512 && (await this.deps.issuers.find(iss)) !== undefined;
  }

  private keysOf(trusted: TrustedIssuer): JWTVerifyGetKey {
    const source = trusted.jwks ? JSON.stringify(trusted.jwks) : `uri:${trusted.jwksUri}`;
    const known = this.keySets.get(trusted.issuer);
    if (known !== undefined && known.source === source) return known.keys;
    const keys = trusted.jwks
      ? createLocalJWKSet(trusted.jwks as JSONWebKeySet)
      : clockedKeySet(trusted.jwksUri as string, this.deps.fetchJwks, this.deps.clock);
    this.keySets.set(trusted.issuer, { source, keys });
    return keys;
  }

  /**
   * A client assertion (RFC 7523 §2.2) of a trusted issuer: the client its
   * subject maps to, registered for federated_jwt. Any refusal is the same
   * invalid_client; the reason is logged.
   */
  async authenticate(assertion: string, claimedClientId: string | undefined): Promise<Client> {
    try {
      const { payload, issuer, client } = await this.verify(assertion, claimedClientId);
      if (!client.tokenEndpointAuthMethods.includes("federated_jwt")) throw new Refusal(`client "${client.id}" is not registered for federated_jwt`);
      if (typeof payload.jti === "string" && payload.jti.length > 0) {
        const ttlMs = Math.ceil(((payload.exp as number) + CLOCK_SKEW_SECONDS) * 1000 - this.deps.clock.now());
        const key = storeKeys.assertionJti(`federated:${issuer}`, payload.jti.slice(0, 256));
        if (!(await this.deps.store.set(key, "1", { ttlMs, onlyIfAbsent: true }))) throw new Refusal("jti replayed");
      }
      return client;
    } catch (error) {
      throw this.refusal(error, "client assertion");
    }
  }

  /** A subject token (RFC 8693) of a trusted issuer: who it names and the client that subject maps to; undefined if refused (reason logged). */
  async identify(token: string): Promise<FederatedIdentity | undefined> {
    try {
      const { payload, issuer, client } = await this.verify(token, undefined);
      return { issuer, subject: payload.sub as string, client, exp: payload.exp as number };
    } catch (error) {
      this.refusal(error, "subject token");
      return undefined;
    }
  }

  private async verify(token: string, claimedClientId: string | undefined): Promise<{ payload: JWTPayload; issuer: string; client: Client }> {
    if (token.length > MAX_TOKEN_LENGTH) throw new Refusal("token is too large");
    // jose decodes leniently: other spellings of one signed token would pass.
    if (!isCanonicalCompactJws(token)) throw new Refusal("not a well-formed JWT (three canonical base64url segments)");
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new Refusal("not a well-formed JWT");
    }
    const trusted = typeof iss === "string" && iss.length > 0 && iss.length <= 512 ? await this.deps.issuers.find(iss) : undefined;
    if (trusted === undefined) {
      if (typeof iss === "string") this.keySets.delete(iss);
      throw new Refusal("iss is not a trusted issuer");
    }
    const keys = this.keysOf(trusted);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: ASSERTION_ALGORITHMS,
        issuer: trusted.issuer,
        audience: [...trusted.audiences],
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: new Date(this.deps.clock.now()),
        requiredClaims: ["exp", "iss", "sub", "aud"],
      }));
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new Refusal(`${trusted.issuer}: ${(error as Error).message}`, { cause: error });
    }
    if ((payload.exp as number) - this.deps.clock.now() / 1000 > MAX_TOKEN_LIFETIME_SECONDS) {
      throw new Refusal(`expires more than ${MAX_TOKEN_LIFETIME_SECONDS} s ahead`);
    }
    const subject = payload.sub as string;
    const mapping = trusted.subjectMapping.find(
      (candidate) =>
        subjectMatches(candidate.subject, subject) &&
        claimsHold(candidate.claims, payload) &&
        (claimedClientId === undefined || candidate.clientId === claimedClientId),
    );
    if (mapping === undefined) throw new Refusal(`${trusted.issuer}: no subject mapping for "${subject}"${claimedClientId ? ` to client "${claimedClientId}"` : ""} whose claims hold`);
    const client = await this.deps.clients.find(mapping.clientId);
    if (client === undefined) throw new Refusal(`${trusted.issuer}: "${subject}" maps to client "${mapping.clientId}", which does not exist`);
    return { payload, issuer: trusted.issuer, client };
  }

  /** Logs why (never the token) and gives the one answer every refusal gets. */
  private refusal(error: unknown, what: string): Error {
    if (!(error instanceof Refusal)) return error as Error;
    this.deps.logger?.info({ reason: error.message }, `federated ${what} refused`);
    return invalidClient();
  }
}

export function subjectMatches(pattern: string, subject: string): boolean {
  return pattern.endsWith("*") ? subject.startsWith(pattern.slice(0, -1)) : subject === pattern;
}

function claimsHold(conditions: SubjectMapping["claims"], payload: JWTPayload): boolean {
  if (conditions === undefined) return true;
  return Object.entries(conditions).every(([name, value]) => {
    const actual = payload[name];
    return Array.isArray(actual) ? actual.includes(value) : actual === value;
  });
}
