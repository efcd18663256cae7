import type { AccessTokenClaims } from "./access-token.js";
import type { ActiveAccessTokens } from "./active-access-tokens.js";
import { parseBearerAuthorization } from "./basic-credentials.js";
import type { Client } from "./client.js";
import type { ClientAuthenticator, ClientCredentials } from "./client-authenticator.js";
import { insufficientScope, invalidClient } from "./oauth-error.js";

export type BearerCaller = { kind: "bearer"; claims: AccessTokenClaims; scopes: Set<string> };

/** Who is calling an endpoint that needs authentication. */
export type Caller = { kind: "client"; client: Client } | BearerCaller;

export interface CallerOptions {
  /**
   * The call changes state: a Bearer token's client is read from the store,
   * not this instance's cache, and must still be allowed `requiredScope`.
   */
  changesState?: boolean;
}

/**
 * Authenticates the caller of introspection, revocation and administration:
 * a client (Basic or client_secret_post / private_key_jwt), or a Bearer
 * access token that carries `requiredScope` and is not revoked.
 */
export class CallerAuthenticator {
  constructor(
    private readonly deps: { clients: ClientAuthenticator; activeTokens: ActiveAccessTokens },
  ) {}

  async authenticate(credentials: ClientCredentials, requiredScope: string, options: CallerOptions = {}): Promise<Caller> {
    const bearer = parseBearerAuthorization(credentials.authorization);
    if (bearer === undefined) {
      const { client } = await this.deps.clients.authenticate(credentials);
      return { kind: "client", client };
    }
    return this.bearer(bearer, requiredScope, options);
  }

  /** A Bearer access token that is in force and carries `requiredScope`. */
  async bearer(token: string, requiredScope: string, options: CallerOptions = {}): Promise<BearerCaller> {
    let claims: AccessTokenClaims | undefined;
    let client: Client | undefined;
    if (options.changesState) ({ claims, client } = (await this.deps.activeTokens.checkFresh(token)) ?? {});
    else claims = await this.deps.activeTokens.check(token);
    if (claims === undefined) throw invalidClient("the bearer token is invalid, expired or revoked");
    const scopes = new Set(claims.scope.split(" "));
    if (!scopes.has(requiredScope)) throw insufficientScope(requiredScope);
    // A token outlives a change to its client's scopes: a state change needs the client to hold the scope still.
    if (client !== undefined && !client.scopes.includes(requiredScope)) throw insufficientScope(requiredScope, "the bearer token's client");
    return { kind: "bearer", claims, scopes };
  }
}
