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
  /** RFC 8693 §4.1: who acts for `sub` (tokens issued by token exchange), with earlier actors nested. */
  act?: Actor;
  /** RFC 8693 §4.4: who may act for `sub`; a token exchange by any other client is refused. */
  may_act?: { sub?: string; client_id?: string };
  /** Private claim: the `jti` of the token this one was exchanged for. */
  parent_jti?: string;
  /**
   * Private claim: the `jti`s of every token this one descends from by
   * exchange, the root first and the parent last. Revoking any of them ends this one too.
   */
  ancestor_jtis?: string[];
}

/** An `act` claim: the acting party (for Tokensmith, a client) and whoever acted before it. */
export interface Actor {
  sub: string;
  client_id?: string;
  act?: Actor;
}

/** Actors nested deeper than this are not believed (a token of at most MAX_TOKEN_LENGTH holds far fewer). */
const MAX_ACTOR_DEPTH = 64;

/** An `act` claim as a token carries it, or undefined when it is not a well-formed one. */
export function actorOf(value: unknown, depth = 0): Actor | undefined {
  if (depth >= MAX_ACTOR_DEPTH || typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { sub, client_id: clientId, act } = value as Record<string, unknown>;
  if (typeof sub !== "string" || (clientId !== undefined && typeof clientId !== "string")) return undefined;
  const inner = act === undefined ? undefined : actorOf(act, depth + 1);
  if (act !== undefined && inner === undefined) return undefined;
  return { sub, ...(clientId !== undefined ? { client_id: clientId } : {}), ...(inner !== undefined ? { act: inner } : {}) };
}

/** An `ancestor_jtis` claim, or undefined when it is not a list of strings. */
export function ancestorJtisOf(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((jti) => typeof jti === "string") ? (value as string[]) : undefined;
}

/** A `may_act` claim, or undefined when it is not an object naming a `sub` or `client_id`. */
export function mayActOf(value: unknown): { sub?: string; client_id?: string } | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { sub, client_id: clientId } = value as Record<string, unknown>;
  return {
    ...(typeof sub === "string" ? { sub } : {}),
    ...(typeof clientId === "string" ? { client_id: clientId } : {}),
  };
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
