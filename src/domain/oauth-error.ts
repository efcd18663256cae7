/** RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2 error codes. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "invalid_target"
  | "unsupported_token_type"
  | "access_denied"
  | "insufficient_scope"
  | "temporarily_unavailable"
  | "slow_down"
  | "server_error";

/** What kind of failure this is, independent of any transport. */
export type FailureKind =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "resource_exhausted"
  | "unavailable"
  | "internal";

/**
 * A failure the caller can act on. `description` is safe to show (it never
 * contains a secret); `cause` keeps the internal detail for the log only.
 */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly kind: FailureKind,
    readonly description: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; clientId?: string },
  ) {
    super(description, options);
    this.name = "OAuthError";
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.clientId = options?.clientId;
  }
  readonly retryAfterSeconds: number | undefined;
  /** A refusal of a bearer token in force (it lacks a scope): the token's client, who tried (audit's admin.denied). */
  readonly clientId: string | undefined;
}

export const invalidRequest = (description: string) =>
  new OAuthError("invalid_request", "invalid_argument", description);

export const invalidClient = (description = "client authentication failed") =>
  new OAuthError("invalid_client", "unauthenticated", description);

export const invalidScope = (description: string) =>
  new OAuthError("invalid_scope", "permission_denied", description);

export const malformedScope = (description: string) =>
  new OAuthError("invalid_scope", "invalid_argument", description);

export const invalidTarget = (description: string) =>
  new OAuthError("invalid_target", "permission_denied", description);

/** RFC 6750 §3.1: the caller (a bearer token, by default) is valid but lacks a needed scope. */
export const insufficientScope = (scope: string, holder = "the bearer token", clientId?: string) =>
  new OAuthError("insufficient_scope", "permission_denied", `${holder} lacks the scope ${scope}`, { clientId });

export const unsupportedTokenType = (description: string) =>
  new OAuthError("unsupported_token_type", "invalid_argument", description);
