import { actorOf, ancestorJtisOf, mayActOf, MAX_TOKEN_LENGTH, type AccessTokenClaims, type AccessTokenVerifier, type VerifyResult } from "../domain/access-token.js";
import type { Clock } from "../domain/clock.js";
import { isCanonicalBase64url } from "./canonical-base64url.js";
import { verifySignature } from "./jws.js";
import type { SigningKey } from "./signing-key.js";

const VERIFIED_CACHE_SIZE = 50_000;
const ACCEPTED_TYP = new Set(["at+jwt", "application/at+jwt"]);

export interface KeyLookup {
  find(kid: string): SigningKey | undefined;
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isString = (value: unknown): value is string => typeof value === "string";
const isNumericDate = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/**
 * Verifies Tokensmith's own RFC 9068 access tokens: `typ` must be at+jwt,
 * `alg` must be the algorithm of the key named by `kid` (so `none` and HS*
 * never pass), the signature must verify, `iss` must be ours, and the token
 * must be within its lifetime. Synchronous: introspection is a hot path.
 */
export class JwtAccessTokenVerifier implements AccessTokenVerifier {
  constructor(
    private readonly keys: KeyLookup,
    private readonly issuer: string,
    private readonly clock: Clock,
  ) {}

  /**
   * Tokens whose signature and claims already checked out, by their exact
   * text: resource servers introspect the same token again and again, and the
   * signature check is most of the cost. Time and key retirement are checked
   * again on every use; revocation is the caller's check, every time.
   */
  private readonly verified = new Map<string, { claims: AccessTokenClaims; kid: string; nbf: number | undefined }>();

  /**
   * Drops verified tokens that were revoked elsewhere. Revocation is checked
   * on every use anyway; this keeps the cache from holding them until expiry.
   */
  forgetVerified(matches: (claims: AccessTokenClaims) => boolean): void {
    for (const [token, entry] of this.verified) if (matches(entry.claims)) this.verified.delete(token);
  }

  verify(token: string): VerifyResult {
    const cached = this.verified.get(token);
    if (cached !== undefined) {
      const now = this.clock.now() / 1000;
      if (this.keys.find(cached.kid) === undefined) return { ok: false, reason: "unknown_key" };
      if (cached.claims.exp <= now) {
        this.verified.delete(token);
        return { ok: false, reason: "expired" };
      }
      if (cached.nbf !== undefined && cached.nbf > now) return { ok: false, reason: "not_yet_valid" };
      return { ok: true, claims: cached.claims };
    }
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: "malformed" };
    const parts = token.split(".");
    if (parts.length !== 3) return { ok: false, reason: "malformed" };
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
    if (!isCanonicalBase64url(encodedHeader) || !isCanonicalBase64url(encodedPayload) || !isCanonicalBase64url(encodedSignature)) {
      return { ok: false, reason: "malformed" };
    }
    const header = decodeJsonObject(encodedHeader);
    if (header === undefined) return { ok: false, reason: "malformed" };
    if (!isString(header.typ) || !ACCEPTED_TYP.has(header.typ.toLowerCase()) || !isString(header.alg) || !isString(header.kid) || "crit" in header) {
      return { ok: false, reason: "unsupported_header" };
    }
    const key = this.keys.find(header.kid);
    if (key === undefined) return { ok: false, reason: "unknown_key" };
    if (header.alg !== key.alg) return { ok: false, reason: "unsupported_header" };
    if (!verifySignature(key, `${encodedHeader}.${encodedPayload}`, Buffer.from(encodedSignature, "base64url"))) {
      return { ok: false, reason: "bad_signature" };
    }
    const claims = decodeJsonObject(encodedPayload);
    if (claims === undefined) return { ok: false, reason: "malformed" };
    if (claims.iss !== this.issuer) return { ok: false, reason: "wrong_issuer" };
    const { sub, client_id, aud, scope, iat, exp, jti, nbf } = claims;
    if (!isString(sub) || !isString(client_id) || !isString(scope) || !isString(jti) || !isNumericDate(iat) || !isNumericDate(exp)) {
      return { ok: false, reason: "bad_claims" };
    }
    if (!(isString(aud) || (Array.isArray(aud) && aud.every(isString)))) return { ok: false, reason: "bad_claims" };
    const now = this.clock.now() / 1000;
    if (exp <= now) return { ok: false, reason: "expired" };
    if (nbf !== undefined && (!isNumericDate(nbf) || nbf > now)) return { ok: false, reason: "not_yet_valid" };
    const verified: AccessTokenClaims = { iss: this.issuer, sub, client_id, aud: aud as string | string[], scope, iat, exp, jti };
    // Only a value consistent with iat counts; otherwise iat alone (see issuedAtMs).
    const iatMs = claims.iat_ms;
    if (typeof iatMs === "number" && Number.isSafeInteger(iatMs) && Math.floor(iatMs / 1000) === iat) verified.iat_ms = iatMs;
    // Token exchange (RFC 8693): kept only when well formed; a token with a malformed act is refused, not read as unacted.
    if (claims.act !== undefined) {
      const act = actorOf(claims.act);
      if (act === undefined) return { ok: false, reason: "bad_claims" };
      verified.act = act;
    }
    if (claims.may_act !== undefined) {
      const mayAct = mayActOf(claims.may_act);
      if (mayAct === undefined) return { ok: false, reason: "bad_claims" };
      verified.may_act = mayAct;
    }
    if (isString(claims.parent_jti)) verified.parent_jti = claims.parent_jti;
    if (claims.ancestor_jtis !== undefined) {
      const ancestors = ancestorJtisOf(claims.ancestor_jtis);
      if (ancestors === undefined) return { ok: false, reason: "bad_claims" };
      verified.ancestor_jtis = ancestors;
    }
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, { claims: verified, kid: header.kid, nbf: nbf as number | undefined });
    return { ok: true, claims: verified };
  }
}
