import type { Clock } from "./clock.js";
import { OAuthError } from "./oauth-error.js";

/**
 * A token bucket per caller, in this instance's memory: introspection is a
 * hot path, so its limit costs no store round trip (with N instances a caller
 * gets at most N times the rate). Idle buckets are dropped when the table fills.
 */
export class CallerRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly deps: { clock: Clock; perSecond: number; burst: number; onLimited?: () => void },
  ) {}

  take(caller: string): void {
    const now = this.deps.clock.now();
    let bucket = this.buckets.get(caller);
    if (bucket === undefined) {
      if (this.buckets.size >= 100_000) this.buckets.delete(this.buckets.keys().next().value as string);
      bucket = { tokens: this.deps.burst, at: now };
      this.buckets.set(caller, bucket);
    } else {
      bucket.tokens = Math.min(this.deps.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.deps.perSecond);
      bucket.at = now;
    }
    if (bucket.tokens < 1) {
      this.deps.onLimited?.();
      throw new OAuthError("slow_down", "resource_exhausted", "too many introspection requests from this caller; slow down", {
        retryAfterSeconds: 1,
      });
    }
    bucket.tokens -= 1;
  }
}
