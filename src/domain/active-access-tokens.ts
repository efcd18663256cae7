import type { AccessTokenClaims, AccessTokenVerifier } from "./access-token.js";
import type { Client, ClientRegistry } from "./client.js";
import type { RevocationList } from "./revocation-list.js";

/**
 * The one answer to "is this access token in force?", shared by
 * introspection and by every endpoint that takes a Bearer token: signature,
 * header and lifetime; not revoked; and its client still exists and is not a
 * newer client that reused the id. A store failure rejects (fail closed).
 */
export class ActiveAccessTokens {
  constructor(private readonly deps: { accessTokens: AccessTokenVerifier; revocations: RevocationList; clients: ClientRegistry }) {}

  async check(token: string): Promise<AccessTokenClaims | undefined> {
    const verified = this.deps.accessTokens.verify(token);
    if (!verified.ok) return undefined;
    const { claims } = verified;
    const known = this.deps.clients.peek?.(claims.client_id);
    const [revoked, client] =
      known === undefined
        ? await Promise.all([this.deps.revocations.isRevoked(claims.jti), this.deps.clients.find(claims.client_id)])
        : [await this.deps.revocations.isRevoked(claims.jti), known ?? undefined];
    return inForce(claims, revoked, client) ? claims : undefined;
  }

  /**
   * check, with the token's client read from the store now rather than from
   * this instance's cache (one store read more): for calls that change state,
   * so a client deleted or changed on another instance stops them at once.
   * Returns the client too, for the scopes it may still hold.
   */
  async checkFresh(token: string): Promise<{ claims: AccessTokenClaims; client: Client } | undefined> {
    const verified = this.deps.accessTokens.verify(token);
    if (!verified.ok) return undefined;
    const { claims } = verified;
    const [revoked, client] = await Promise.all([this.deps.revocations.isRevoked(claims.jti), this.deps.clients.findFresh(claims.client_id)]);
    return inForce(claims, revoked, client) ? { claims, client: client as Client } : undefined;
  }
}

function inForce(claims: AccessTokenClaims, revoked: boolean, client: Client | undefined): boolean {
  if (revoked || client === undefined) return false;
  // Tokens are issued no earlier than their client's creation second (see ClientTokenIssuer).
  return Math.floor((client.createdAt ?? 0) / 1000) <= claims.iat;
}
