import type { AccessTokenClaims } from "./access-token.js";
import type { ActiveAccessTokens } from "./active-access-tokens.js";
import type { ApiKey, ApiKeyRegistry } from "./api-key.js";
import { authenticateApiKey, presentedApiKey } from "./api-key-authentication.js";
import type { AuthRateLimiter } from "./auth-rate-limiter.js";
import { parseBearerAuthorization } from "./basic-credentials.js";
import type { Client } from "./client.js";
import type { ClientAuthenticator, ClientCredentials } from "./client-authenticator.js";
import { insufficientScope, invalidClient } from "./oauth-error.js";

export type BearerCaller = { kind: "bearer"; claims: AccessTokenClaims; scopes: Set<string> };

/** Who is calling an endpoint that needs authentication. */
export type Caller = { kind: "client"; client: Client } | BearerCaller | { kind: "api_key"; apiKey: ApiKey };

export interface CallerOptions {
  /**
   * The call changes state: a Bearer token's client is read from the store,
   * not this instance's cache, and must still be allowed the required scopes.
   */
  changesState?: boolean;
  /** An API key (`Basic base64(api_key ":")`) may call; what it may do is the endpoint's rule. */
  acceptApiKeys?: boolean;
}

/**
 * Authenticates the caller of introspection, revocation and administration:
 * a client (Basic or client_secret_post / private_key_jwt), an API key where
 * the endpoint takes one, or a Bearer access token that carries every one of
 * `requiredScopes` and is not revoked. A client's scopes are the endpoint's
 * to check (see requireClientScopes): some endpoints let a client act on its
 * own tokens without any.
 */
export class CallerAuthenticator {
  constructor(
    private readonly deps: {
      clients: ClientAuthenticator;
      activeTokens: ActiveAccessTokens;
      apiKeys: ApiKeyRegistry;
      limiter?: AuthRateLimiter;
      /**
       * Whether the tenant still exists, asked of the store: a call that
       * changes state must not wait for this instance to hear of the tenant's
       * deletion. Absent for the default tenant, which always exists.
       */
      tenantExists?: () => Promise<boolean>;
    },
  ) {}

  async authenticate(credentials: ClientCredentials, requiredScopes: readonly string[], options: CallerOptions = {}): Promise<Caller> {
    const bearer = parseBearerAuthorization(credentials.authorization);
    if (bearer !== undefined) return this.bearer(bearer, requiredScopes, options);
    if (options.acceptApiKeys && !credentials.clientSecret && !credentials.clientAssertion && presentedApiKey(credentials.authorization) !== undefined) {
      const limits = this.deps.limiter && { limiter: this.deps.limiter, peer: credentials.peer };
      return { kind: "api_key", apiKey: await authenticateApiKey(this.deps.apiKeys, credentials.authorization, limits) };
    }
    const { client } = await this.deps.clients.authenticate(credentials);
    return { kind: "client", client };
  }

  /** A Bearer access token that is in force and carries every one of `requiredScopes`. */
  async bearer(token: string, requiredScopes: readonly string[], options: CallerOptions = {}): Promise<BearerCaller> {
    let claims: AccessTokenClaims | undefined;
    let client: Client | undefined;
    if (options.changesState) ({ claims, client } = (await this.deps.activeTokens.checkFresh(token)) ?? {});
    else claims = await this.deps.activeTokens.check(token);
    if (claims === undefined || (options.changesState && this.deps.tenantExists !== undefined && !(await this.deps.tenantExists()))) {
      throw invalidClient("the bearer token is invalid, expired or revoked");
    }
    const scopes = new Set(claims.scope.split(" "));
    for (const scope of requiredScopes) {
      if (!scopes.has(scope)) throw insufficientScope(scope, undefined, claims.client_id);
      // A token outlives a change to its client's scopes: a state change needs the client to hold the scope still.
      if (client !== undefined && !client.scopes.includes(scope)) throw insufficientScope(scope, "the bearer token's client", claims.client_id);
    }
    return { kind: "bearer", claims, scopes };
  }
}

/** A client may use an endpoint guarded by scopes only when it is registered with every one of them. */
export function requireClientScopes(client: Client, requiredScopes: readonly string[]): void {
  for (const scope of requiredScopes) {
    if (!client.scopes.includes(scope)) throw insufficientScope(scope, "the client");
  }
}
