import type { AccessTokenClaims, AccessTokenVerifier } from "./access-token.js";
import type { Client, ClientRegistry } from "./client.js";
import { issuedAtMs, type ClientTokenCutoffs } from "./client-token-cutoffs.js";
import type { RevocationList } from "./revocation-list.js";

/**
 * The one answer to "is this access token in force?", shared by
 * introspection and by every endpoint that takes a Bearer token: signature,
 * header and lifetime; not revoked, by itself or with all of its client's
 * tokens (RevokeClientTokens); and its client still exists and is not a
 * newer client that reused the id. A store failure rejects (fail closed).
 */
export class ActiveAccessTokens {
  constructor(
    private readonly deps: { accessTokens: AccessTokenVerifier; revocations: RevocationList; cutoffs: ClientTokenCutoffs; clients: ClientRegistry },
  ) {}

  async check(token: string): Promise<AccessTokenClaims | undefined> {
    const verified = this.deps.accessTokens.verify(token);
    if (!verified.ok) return undefined;
    const { claims } = verified;
    const known = this.deps.clients.peek?.(claims.client_id);
    // Both revocation reads in the same turn: one round trip on a pipelining store, not two.
    const revoked = Promise.all([this.revokedWithAncestors(claims), this.deps.cutoffs.cutoff(claims.client_id)]);
    const [[jtiRevoked, cutoff], client] =
      known === undefined ? await Promise.all([revoked, this.deps.clients.find(claims.client_id)]) : [await revoked, known ?? undefined];
    return inForce(claims, jtiRevoked, cutoff, client) ? claims : undefined;
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
    const [revoked, cutoff, client] = await Promise.all([
      this.revokedWithAncestors(claims),
      this.deps.cutoffs.cutoff(claims.client_id),
      this.deps.clients.findFresh(claims.client_id),
    ]);
    return inForce(claims, revoked, cutoff, client) ? { claims, client: client as Client } : undefined;
  }

  /** Whether the token, or any token it was exchanged from (RFC 8693), is revoked: all asked in the same turn. */
  private revokedWithAncestors(claims: AccessTokenClaims): Promise<boolean> {
    const ancestors = claims.ancestor_jtis;
    if (ancestors === undefined) return this.deps.revocations.isRevoked(claims.jti);
    return Promise.all([claims.jti, ...ancestors].map((jti) => this.deps.revocations.isRevoked(jti))).then((answers) => answers.includes(true));
  }
}

function inForce(claims: AccessTokenClaims, revoked: boolean, cutoffMs: number | undefined, client: Client | undefined): boolean {
  if (revoked || client === undefined) return false;
  // The cut-off instant itself counts as before it: a token issued in that very millisecond may predate the call.
  if (cutoffMs !== undefined && issuedAtMs(claims) <= cutoffMs) return false;
  // Tokens are issued no earlier than their client's creation second (see ClientTokenIssuer).
  return Math.floor((client.createdAt ?? 0) / 1000) <= claims.iat;
}
