import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { Clock } from "./clock.js";

/**
 * Revoked access tokens by `jti`, each kept only for the token's remaining
 * lifetime: after that the signature check refuses the token anyway, so the
 * set cleans itself and does not grow with history.
 */
export class RevocationList {
  constructor(private readonly deps: { store: Store; clock: Clock }) {}

  async revoke(jti: string, expiresAtSeconds: number): Promise<void> {
    const remainingMs = expiresAtSeconds * 1000 - this.deps.clock.now();
    if (remainingMs <= 0) return;
    await this.deps.store.set(storeKeys.revokedJti(jti), "1", { ttlMs: remainingMs });
  }

  async isRevoked(jti: string): Promise<boolean> {
    return (await this.deps.store.get(storeKeys.revokedJti(jti))) !== null;
  }
}
