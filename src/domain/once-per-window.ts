import type { Clock } from "./clock.js";
import { ExpiringCache } from "./expiring-cache.js";

/**
 * Lets one occurrence of a key through per window, in this process, and
 * counts the ones held back until the next is let through. Bounded: past
 * `maxKeys` the oldest key is forgotten (its next occurrence goes through,
 * its count lost), so a flood of distinct keys cannot grow memory.
 */
export class OncePerWindow {
  private readonly seen: ExpiringCache<string, { heldBack: number }>;

  constructor(private readonly deps: { clock: Clock; windowMs: number; maxKeys: number }) {
    this.seen = new ExpiringCache(deps.maxKeys);
  }

  /** Undefined when held back (a key let through less than a window ago); else how many were held back since the previous one. */
  admit(key: string): { heldBack: number } | undefined {
    const now = this.deps.clock.now();
    const live = this.seen.get(key, now);
    if (live !== undefined) {
      live.value.heldBack += 1;
      return undefined;
    }
    const heldBack = this.seen.get(key, now, { stale: true })?.value.heldBack ?? 0;
    this.seen.set(key, { heldBack: 0 }, now + this.deps.windowMs);
    return { heldBack };
  }
}
