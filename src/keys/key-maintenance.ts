import type { Logger } from "pino";
import type { AuditTrail } from "../domain/audit-trail.js";
import type { ChangeFeed } from "../domain/change-feed.js";
import type { Clock } from "../domain/clock.js";
import type { Store } from "../store/store.js";
import type { KeyRing } from "./key-ring.js";
import { withRotationLock } from "./rotation-lock.js";

/**
 * Background work on the key ring: every instance re-reads the shared ring
 * (to pick up another instance's rotation), and rotates it when the signing
 * key is older than the schedule — under the rotation lock (rotation-lock.ts),
 * re-reading the ring once it holds it. A rotation is announced on the
 * change feed; an announcement that fails is retried on the next pass (the
 * rotation itself stands, and other instances still pick it up on reload).
 */
export function startKeyMaintenance(options: {
  keyRing: KeyRing;
  store: Store;
  feed: ChangeFeed;
  /** Where a scheduled rotation is recorded (signing_key.rotated, no actor); absent: only the log line. */
  audit?: AuditTrail;
  clock: Clock;
  logger: Logger;
  refreshMs: number;
  rotateEveryMs: number;
  publishDelayMs: number;
  retireAfterMs: number;
}): { stop(): void; tick(): Promise<void> } {
  const { keyRing, store, clock, logger } = options;
  let running = false;
  let unannounced = false;
  const due = () => clock.now() - keyRing.describe().reduce((latest, key) => Math.max(latest, key.createdAt), 0) >= options.rotateEveryMs;
  const announce = async () => {
    await options.feed.append({ type: "signing_keys_changed" });
    unannounced = false;
  };
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await keyRing.reload();
      if (unannounced) await announce();
      if (options.rotateEveryMs > 0 && due()) {
        await withRotationLock(store, async () => {
          // Another instance (or RotateSigningKey) may have rotated since the reload above.
          await keyRing.reload();
          if (!due()) return;
          const entry = await keyRing.rotate({ publishDelayMs: options.publishDelayMs, retireAfterMs: options.retireAfterMs });
          logger.info({ kid: entry.kid, signsFrom: new Date(entry.signsFrom).toISOString() }, "scheduled signing key rotation");
          unannounced = true;
          // Not retried if the store fails now: the rotation stands, and AuditTrail.record has logged the event first.
          await options.audit?.record({ kind: "signing_key.rotated", target: entry.kid, details: { alg: entry.alg, scheduled: "true" } });
        });
        if (unannounced) await announce();
      }
    } catch (error) {
      logger.warn({ err: { message: (error as Error).message } }, "signing key maintenance failed; will retry");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), options.refreshMs);
  timer.unref();
  /** `tick`: one pass now (tests); a pass already running makes it a no-op. */
  return { stop: () => clearInterval(timer), tick };
}
