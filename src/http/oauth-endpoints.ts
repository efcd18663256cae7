import type { Domain } from "../app.js";
import { tokenEndpointOf } from "../app.js";
import { parseBearerAuthorization } from "../domain/basic-credentials.js";
import type { ClientCredentials } from "../domain/client-authenticator.js";
import { ASSERTION_ALGORITHMS } from "../domain/client-assertion.js";
import { CLIENT_AUTH_METHODS, GRANT_TYPES, TOKEN_EXCHANGE_GRANT } from "../domain/client.js";
import type { Introspection } from "../domain/introspection.js";
import { invalidRequest, OAuthError, type FailureKind } from "../domain/oauth-error.js";
import type { CallEdge } from "../edge/call-edge.js";
import { parseScopeParameter } from "../domain/scopes.js";
import { readForm, type FormParameters } from "./form-body.js";
import type { NodeRequest, NodeResponse } from "../edge/node-http.js";
import { sendJson } from "./json-response.js";

/**
 * Fresh no-store headers (RFC 6749 §5.1) to add to. A function, not a shared
 * object spread into each literal: on Node 20 (V8 11.3) every property added
 * to or after a spread costs ~0.7 µs.
 */
const noStoreHeaders = (): Record<string, string> => ({ "cache-control": "no-store", pragma: "no-cache" });

const STATUS_OF: Record<FailureKind, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 400,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 400,
  resource_exhausted: 429,
  unavailable: 503,
  internal: 500,
};

/** Requests whose client authenticated in the body (client_secret_post, private_key_jwt). */
const bodyAuthenticated = new WeakSet<NodeRequest>();

function credentialsOf(req: NodeRequest, form: FormParameters, peer: string | undefined): ClientCredentials {
  if (form.get("client_secret") !== undefined || form.get("client_assertion") !== undefined) bodyAuthenticated.add(req);
  return {
    authorization: req.headers.authorization,
    clientId: form.get("client_id"),
    clientSecret: form.get("client_secret"),
    clientAssertionType: form.get("client_assertion_type"),
    clientAssertion: form.get("client_assertion"),
    peer,
  };
}

/** RFC 6749 §5.2 error body and status; 401 + WWW-Authenticate for a failed Authorization header. */
export function sendOAuthError(req: NodeRequest, res: NodeResponse, error: unknown, edge: CallEdge): void {
  const requestId = edge.requestIdOf(req);
  if (req.destroyed && !req.complete) {
    // The client hung up before its request was complete (reading the body
    // failed with "aborted"): nobody to answer, and nothing went wrong here.
    edge.logger.debug({ reqId: requestId }, "client closed the connection mid-request");
    return;
  }
  const failure = edge.failure(error, requestId);
  edge.tracing?.oauthFailed(failure.error);
  let status = STATUS_OF[failure.kind];
  if (failure.error === "insufficient_scope") status = 403;
  const headers = noStoreHeaders();
  if (failure.retryAfterSeconds !== undefined) headers["retry-after"] = String(failure.retryAfterSeconds);
  // RFC 6749 §5.2: a failed Authorization header, or none at all, gets a
  // challenge; a failed body authentication gets just the JSON error, so
  // OAuth libraries report the error instead of an authentication challenge.
  const authorization = req.headers.authorization;
  if (status === 401 && (authorization || !bodyAuthenticated.has(req))) {
    if (parseBearerAuthorization(authorization) !== undefined) headers["www-authenticate"] = 'Bearer realm="tokensmith", error="invalid_token"';
    else headers["www-authenticate"] = 'Basic realm="tokensmith", charset="UTF-8"';
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, status, { error: failure.error, error_description: failure.description }, headers);
}

function introspectionBody(result: Introspection): Record<string, unknown> {
  if (!result.active) return { active: false };
  return {
    active: true,
    scope: result.scopes.join(" "),
    client_id: result.clientId,
    ...(result.username !== undefined ? { username: result.username } : {}),
    // RFC 7662 §2.2: the RFC 6749 §5.1 type; which kind of token it is goes in token_use (as in Hydra).
    token_type: "Bearer",
    token_use: result.tokenType,
    exp: result.exp,
    iat: result.iat,
    sub: result.sub,
    aud: result.aud.length === 1 ? result.aud[0] : result.aud,
    iss: result.iss,
    jti: result.jti,
    ...(result.act !== undefined ? { act: result.act } : {}),
  };
}

type Endpoint = (req: NodeRequest, res: NodeResponse, form: FormParameters) => Promise<void>;

/** The paths of the OAuth 2.0 endpoints (each tenant's under its /t/<tenant> prefix). */
export const OAUTH_ENDPOINT_PATHS = ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] as const;

/** The OAuth 2.0 endpoints: the same domain as the RPCs, translated to forms and JSON. */
export function oauthEndpoints(domain: Domain, { peerOf }: CallEdge): Record<(typeof OAUTH_ENDPOINT_PATHS)[number], Endpoint> {
  return {
    "/oauth2/token": async (req, res, form) => {
      const grantType = form.get("grant_type");
      if (!grantType) throw invalidRequest("grant_type is required");
      if (grantType === TOKEN_EXCHANGE_GRANT) {
        const exchanged = await domain.tokenExchange.exchange(credentialsOf(req, form, peerOf(req)), {
          subjectToken: form.get("subject_token"),
          subjectTokenType: form.get("subject_token_type"),
          actorToken: form.get("actor_token"),
          actorTokenType: form.get("actor_token_type"),
          requestedTokenType: form.get("requested_token_type"),
          scopes: parseScopeParameter(form.get("scope")),
          audience: [...form.getAll("resource"), ...form.getAll("audience")],
        });
        // RFC 8693 §2.2.1.
        const body = {
          access_token: exchanged.accessToken,
          issued_token_type: exchanged.issuedTokenType,
          token_type: exchanged.tokenType,
          expires_in: exchanged.expiresIn,
          scope: exchanged.scopes.join(" "),
        };
        sendJson(res, 200, body, noStoreHeaders());
        return;
      }
      if (grantType !== "client_credentials") {
        throw new OAuthError("unsupported_grant_type", "invalid_argument", `grant_type "${grantType.slice(0, 64)}" is not supported; use ${GRANT_TYPES.join(" or ")}`);
      }
      const issued = await domain.clientTokens.issue(credentialsOf(req, form, peerOf(req)), {
        scopes: parseScopeParameter(form.get("scope")),
        audience: [...form.getAll("resource"), ...form.getAll("audience")],
      });
      sendJson(
        res,
        200,
        { access_token: issued.accessToken, token_type: issued.tokenType, expires_in: issued.expiresIn, scope: issued.scopes.join(" ") },
        noStoreHeaders(),
      );
    },
    "/oauth2/introspect": async (req, res, form) => {
      const token = form.get("token");
      if (token === undefined) throw invalidRequest("token is required");
      const result = await domain.introspector.introspect(credentialsOf(req, form, peerOf(req)), {
        token,
        tokenTypeHint: form.get("token_type_hint"),
      });
      sendJson(res, 200, introspectionBody(result), noStoreHeaders());
    },
    "/oauth2/revoke": async (req, res, form) => {
      const token = form.get("token");
      if (token === undefined) throw invalidRequest("token is required");
      await domain.revoker.revoke(credentialsOf(req, form, peerOf(req)), { token, tokenTypeHint: form.get("token_type_hint") });
      const headers = noStoreHeaders();
      headers["content-length"] = "0";
      res.writeHead(200, headers);
      res.end();
    },
  };
}

/** RFC 8414 authorization server metadata. */
export function authorizationServerMetadata(domain: Domain): Record<string, unknown> {
  const { issuer } = domain;
  // Every method some client may register; each client is bound to its own (AdminService, config).
  // federated_jwt is Tokensmith's own name (no RFC 7591 registration); on the wire it is a jwt-bearer client_assertion.
  const authMethods = CLIENT_AUTH_METHODS.filter((method) => method !== "federated_jwt");
  return {
    issuer,
    token_endpoint: tokenEndpointOf(issuer),
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    grant_types_supported: [...GRANT_TYPES],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: authMethods,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    // Anyone may read this document: only scopes the operator made public, never the privileged or internal ones.
    ...(domain.config.publicScopes.length > 0 ? { scopes_supported: [...domain.config.publicScopes].sort() } : {}),
    access_token_signing_alg_values_supported: [domain.keyRing.active().alg],
  };
}

/** The HTTP facade's adapter over the edge: metrics by path and status, failures as RFC 6749 §5.2 errors. */
export function handleOAuthEndpoint(edge: CallEdge, path: string, endpoint: Endpoint, req: NodeRequest, res: NodeResponse): void {
  const started = process.hrtime.bigint();
  res.once("finish", () => edge.finished("http", path, String(res.statusCode), res.statusCode === 503, started));
  if (req.method !== "POST") {
    req.resume();
    sendJson(res, 405, { error: "invalid_request", error_description: "use POST" }, { allow: "POST", ...noStoreHeaders() });
    return;
  }
  readForm(req)
    .then((form) => {
      edge.tracing?.oauthRequest(path, form, req);
      return endpoint(req, res, form);
    })
    .catch((error: unknown) => sendOAuthError(req, res, error, edge));
}
