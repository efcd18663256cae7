import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { ChangeFeed } from "./change-feed.js";
import type { Clock } from "./clock.js";

/**
 * Revoked access tokens by `jti`, each kept only for the token's remaining
 * lifetime: after that the signature check refuses the token anyway, so the
 * set cleans itself and does not grow with history. Each revocation is also
 * an entry of the change feed, which instances and verifiers follow.
 */
export class RevocationList {
  constructor(private readonly deps: { store: Store; clock: Clock; feed: ChangeFeed }) {}

  /**
   * Resolves once both the revocation and its feed entry are written; rejects
   * if either is not (the caller answers Unavailable, and a retry is
   * harmless). Both commands are issued in the same turn, so the Redis store
   * sends them in one write.
   */
  async revoke(jti: string, expiresAtSeconds: number): Promise<void> {
    const remainingMs = expiresAtSeconds * 1000 - this.deps.clock.now();
    if (remainingMs <= 0) return;
    await Promise.all([
      this.deps.store.set(storeKeys.revokedJti(jti), "1", { ttlMs: remainingMs }),
      this.deps.feed.append({ type: "access_token_revoked", jti, exp: expiresAtSeconds }),
    ]);
  }

  async isRevoked(jti: string): Promise<boolean> {
    return (await this.deps.store.get(storeKeys.revokedJti(jti))) !== null;
  }
}
