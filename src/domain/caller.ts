import type { AccessTokenClaims } from "./access-token.js";
import type { ActiveAccessTokens } from "./active-access-tokens.js";
import { parseBearerAuthorization } from "./basic-credentials.js";
import type { Client } from "./client.js";
import type { ClientAuthenticator, ClientCredentials } from "./client-authenticator.js";
import { insufficientScope, invalidClient } from "./oauth-error.js";

/** Who is calling an endpoint that needs authentication. */
export type Caller = { kind: "client"; client: Client } | { kind: "bearer"; claims: AccessTokenClaims; scopes: Set<string> };

/**
 * Authenticates the caller of introspection and revocation: a client (Basic
 * or client_secret_post / private_key_jwt), or a Bearer access token that
 * carries `requiredScope` and is not revoked.
 */
export class CallerAuthenticator {
  constructor(
    private readonly deps: { clients: ClientAuthenticator; activeTokens: ActiveAccessTokens },
  ) {}

  async authenticate(credentials: ClientCredentials, requiredScope: string): Promise<Caller> {
    const bearer = parseBearerAuthorization(credentials.authorization);
    if (bearer === undefined) {
      const { client } = await this.deps.clients.authenticate(credentials);
      return { kind: "client", client };
    }
    const claims = await this.deps.activeTokens.check(bearer);
    if (claims === undefined) throw invalidClient("the bearer token is invalid, expired or revoked");
    const scopes = new Set(claims.scope.split(" "));
    if (!scopes.has(requiredScope)) throw insufficientScope(requiredScope);
    return { kind: "bearer", claims, scopes };
  }
}
