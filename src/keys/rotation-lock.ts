import { randomUUID } from "node:crypto";
import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";

/** How long a lock outlives an instance that died while rotating. */
const LOCK_TTL_MS = 60_000;

/**
 * Runs `rotate` while holding the signing-key rotation lock in the store, so
 * that one rotation at a time changes the ring shared by every instance —
 * scheduled (key-maintenance.ts) and asked for (RotateSigningKey) alike.
 * Resolves `{ locked: false }` without running it when another rotation
 * holds the lock. The lock is released afterwards; its TTL frees it if the
 * holder dies.
 */
export async function withRotationLock<T>(store: Store, rotate: () => Promise<T>): Promise<{ locked: true; value: T } | { locked: false }> {
  const key = storeKeys.signingKeyRotationLock();
  const holder = randomUUID();
  if (!(await store.set(key, holder, { ttlMs: LOCK_TTL_MS, onlyIfAbsent: true }))) return { locked: false };
  try {
    return { locked: true, value: await rotate() };
  } finally {
    // Not another holder's lock, taken after ours expired.
    if ((await store.get(key)) === holder) await store.del(key);
  }
}
