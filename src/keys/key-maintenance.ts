import type { Logger } from "pino";
import type { Clock } from "../domain/clock.js";
import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { KeyRing } from "./key-ring.js";

/**
 * Background work on the key ring: every instance re-reads the shared ring
 * (to pick up another instance's rotation), and rotates it when the signing
 * key is older than the schedule — one instance at a time, under a lock in
 * the store.
 */
export function startKeyMaintenance(options: {
  keyRing: KeyRing;
  store: Store;
  clock: Clock;
  logger: Logger;
  refreshMs: number;
  rotateEveryMs: number;
  publishDelayMs: number;
  retireAfterMs: number;
}): { stop(): void } {
  const { keyRing, store, clock, logger } = options;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await keyRing.reload();
      if (options.rotateEveryMs > 0) {
        const newest = keyRing.describe().reduce((latest, key) => Math.max(latest, key.createdAt), 0);
        if (clock.now() - newest >= options.rotateEveryMs) {
          const locked = await store.set(storeKeys.signingKeyRotationLock(), "1", { ttlMs: 60_000, onlyIfAbsent: true });
          if (locked) {
            const entry = await keyRing.rotate({ publishDelayMs: options.publishDelayMs, retireAfterMs: options.retireAfterMs });
            logger.info({ kid: entry.kid, signsFrom: new Date(entry.signsFrom).toISOString() }, "scheduled signing key rotation");
          }
        }
      }
    } catch (error) {
      logger.warn({ err: { message: (error as Error).message } }, "signing key maintenance failed; will retry");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), options.refreshMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
