import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { InactiveReason, Verifier, VerifiedClaims } from "./verifier.js";

export interface GuardOptions {
  /** Scopes a token must all hold (in its `scope` claim). Default: none. */
  scopes?: string[];
}

/** Where a connect-node handler finds the claims of the caller's token: `context.values.get(verifiedClaimsKey)`. */
export const verifiedClaimsKey = createContextKey<VerifiedClaims | undefined>(undefined, { description: "tokensmith verified claims" });

type Outcome =
  | { ok: true; token: string; claims: VerifiedClaims }
  | { ok: false; status: 400 | 401 | 403 | 503; error?: "invalid_request" | "invalid_token" | "insufficient_scope" | "temporarily_unavailable"; description: string };

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The one decision both guards make from an Authorization header (RFC 6750). */
async function decide(verifier: Verifier, authorization: string | undefined, scopes: readonly string[]): Promise<Outcome> {
  if (authorization === undefined || authorization === "") return { ok: false, status: 401, description: "a Bearer access token is required" };
  const match = BEARER.exec(authorization);
  if (match === null) return { ok: false, status: 400, error: "invalid_request", description: "the Authorization header is not `Bearer <token>`" };
  const token = match[1]!;
  const result = await verifier.verify(token);
  if (!result.active) {
    if (result.reason === "stale") {
      return { ok: false, status: 503, error: "temporarily_unavailable", description: "revocations cannot be checked right now: retry shortly" };
    }
    return { ok: false, status: 401, error: "invalid_token", description: describe(result.reason) };
  }
  const held = new Set(result.claims.scope.split(" "));
  const missing = scopes.filter((scope) => !held.has(scope));
  if (missing.length > 0) return { ok: false, status: 403, error: "insufficient_scope", description: `the token lacks the scope ${missing.join(" ")}` };
  return { ok: true, token, claims: result.claims };
}

function describe(reason: InactiveReason): string {
  return reason === "revoked" ? "the token was revoked" : reason === "expired" ? "the token expired" : "the token is not valid here";
}

/**
 * Guards a connect-node service: every call needs a Bearer token this
 * verifier accepts, holding `scopes`; its claims reach handlers as
 * `context.values.get(verifiedClaimsKey)`. No token or an inactive one:
 * Unauthenticated; missing scopes: PermissionDenied; verifier stale:
 * Unavailable (retryable: the token may well be fine).
 */
export function verifierInterceptor(verifier: Verifier, options: GuardOptions = {}): Interceptor {
  const scopes = options.scopes ?? [];
  return (next) => async (request) => {
    const outcome = await decide(verifier, request.header.get("authorization") ?? undefined, scopes);
    if (!outcome.ok) {
      const code = outcome.status === 503 ? Code.Unavailable : outcome.status === 403 ? Code.PermissionDenied : outcome.status === 400 ? Code.InvalidArgument : Code.Unauthenticated;
      throw new ConnectError(outcome.description, code, { "www-authenticate": challengeOf(outcome, scopes) });
    }
    request.contextValues.set(verifiedClaimsKey, outcome.claims);
    return next(request);
  };
}

/** A request that passed verifierMiddleware: `auth` holds the token and its claims. */
export type AuthenticatedRequest<R extends IncomingMessage = IncomingMessage> = R & { auth: { token: string; claims: VerifiedClaims } };

/**
 * Guards `node:http` and Express-style handlers. With `next` (Express), it
 * calls `next()` on success; without (plain node:http), it resolves true on
 * success. Either way the request gains `auth: { token, claims }`. Refusals
 * are answered here, per RFC 6750 §3: 401 with `WWW-Authenticate: Bearer`
 * (and `error="invalid_token"` when a token was sent), 403 with
 * `error="insufficient_scope"`, 400 for a malformed header, and 503 with
 * `Retry-After` while the verifier is stale.
 */
export function verifierMiddleware(verifier: Verifier, options: GuardOptions = {}) {
  const scopes = options.scopes ?? [];
  return async (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void): Promise<boolean> => {
    let outcome: Outcome;
    try {
      outcome = await decide(verifier, request.headers.authorization, scopes);
    } catch (error) {
      if (next !== undefined) next(error);
      else if (!response.headersSent) response.writeHead(500).end();
      return false;
    }
    if (outcome.ok) {
      (request as AuthenticatedRequest).auth = { token: outcome.token, claims: outcome.claims };
      next?.();
      return true;
    }
    const headers: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store", "www-authenticate": challengeOf(outcome, scopes) };
    if (outcome.status === 503) headers["retry-after"] = "1";
    response.writeHead(outcome.status, headers);
    response.end(JSON.stringify(outcome.error === undefined ? { error: "invalid_token", error_description: outcome.description } : { error: outcome.error, error_description: outcome.description }));
    return false;
  };
}

/** The RFC 6750 §3 challenge: no error code when no token was sent at all. */
function challengeOf(outcome: Extract<Outcome, { ok: false }>, scopes: readonly string[]): string {
  if (outcome.error === undefined || outcome.error === "temporarily_unavailable") return "Bearer";
  const scope = outcome.error === "insufficient_scope" ? `, scope="${scopes.join(" ")}"` : "";
  return `Bearer error="${outcome.error}", error_description="${outcome.description}"${scope}`;
}
