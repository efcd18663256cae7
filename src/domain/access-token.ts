/** No token Tokensmith issues is longer: a longer one is refused before any parsing, lookup or hashing. */
export const MAX_TOKEN_LENGTH = 8192;

/** The claims of an RFC 9068 access token. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  client_id: string;
  aud: string | string[];
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  /**
   * Private claim: the issue instant in ms (floor(iat_ms / 1000) = iat), so a
   * client-wide cut-off within a second splits that second exactly.
   */
  iat_ms?: number;
}

/** Signs access tokens (implemented by the signing key ring, in the event loop or in signing threads). */
export interface AccessTokenSigner {
  sign(claims: AccessTokenClaims): Promise<string>;
}

export type VerifyFailure =
  | "malformed"
  | "unsupported_header"
  | "unknown_key"
  | "bad_signature"
  | "wrong_issuer"
  | "expired"
  | "not_yet_valid"
  | "bad_claims";

export type VerifyResult = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: VerifyFailure };

/** Checks a token's signature, header and time claims (not revocation). */
export interface AccessTokenVerifier {
  verify(token: string): VerifyResult;
}

export function audienceList(aud: string | string[]): string[] {
  return Array.isArray(aud) ? aud : [aud];
}
