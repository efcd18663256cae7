import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { AccessTokenClaims } from "./access-token.js";
import type { Clock } from "./clock.js";

/**
 * Client-wide revocation (RevokeClientTokens): per client, the instant up to
 * which every token it was issued is inactive. One key per client, kept only
 * as long as the longest token can live: after that every token it covers
 * has expired anyway, so the keys clean themselves.
 */
export class ClientTokenCutoffs {
  constructor(private readonly deps: { store: Store; clock: Clock }) {}

  /** Records the cut-off (default: now; inclusive) and resolves it (ms since the epoch). */
  async revokeAll(clientId: string, keepMs: number, cutoff = this.deps.clock.now()): Promise<number> {
    await this.deps.store.set(storeKeys.clientTokensRevoked(clientId), String(cutoff), { ttlMs: keepMs });
    return cutoff;
  }

  /** The client's cut-off in ms, or undefined when none is in force. */
  async cutoff(clientId: string): Promise<number | undefined> {
    const raw = await this.deps.store.get(storeKeys.clientTokensRevoked(clientId));
    if (raw === null) return undefined;
    const cutoff = Number(raw);
    // An unreadable value revokes everything: failing closed is the point of a kill switch.
    return Number.isFinite(cutoff) ? cutoff : Number.POSITIVE_INFINITY;
  }
}

/**
 * When a token was issued, to the millisecond: `iat` has whole seconds, which
 * cannot tell a token issued just before a cut-off from one issued just after
 * it in the same second. Tokens without `iat_ms` (issued before it existed)
 * count from the start of their second, so a cut-off in that second covers them.
 */
export function issuedAtMs(claims: AccessTokenClaims): number {
  return claims.iat_ms ?? claims.iat * 1000;
}
