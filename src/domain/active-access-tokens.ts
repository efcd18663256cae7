import type { AccessTokenClaims, AccessTokenVerifier } from "./access-token.js";
import type { ClientRegistry } from "./client.js";
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
    if (revoked || client === undefined) return undefined;
    // Tokens are issued no earlier than their client's creation second (see ClientTokenIssuer).
    if (Math.floor((client.createdAt ?? 0) / 1000) > claims.iat) return undefined;
    return claims;
  }
}
