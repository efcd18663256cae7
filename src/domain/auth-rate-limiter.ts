import type { Store } from "../store/store.js";
import { storeKeys, StoreUnavailableError } from "../store/store.js";
import type { Clock } from "./clock.js";
import { OAuthError } from "./oauth-error.js";

export interface RateLimitSettings {
  /** Failed authentications from one peer address within the window before it is refused. */
  failuresPerPeer: number;
  /** Failed authentications for one client id (or API key) from one peer within the window. */
  failuresPerSubjectAndPeer: number;
  windowSeconds: number;
}

export interface RateLimitEvents {
  /** A request refused because a limit was reached. */
  limited(kind: "peer" | "subject"): void;
  /** The store could not count: the in-process limiter answered instead. */
  fellBackToLocal(): void;
}

/** A peer (or a client id from a peer) that has just gone over its limit: refused until the window ends. */
export interface Lockout {
  peer: string;
  /** The client id it failed to authenticate as, for the per-client limit. */
  subject?: string;
  /** Which limit it went over. */
  limit: "peer" | "client";
  windowSeconds: number;
}

const slowDown = (retryAfterSeconds: number) =>
  new OAuthError("slow_down", "resource_exhausted", "too many failed authentication attempts; try again later", { retryAfterSeconds });

/**
 * Counts failed client and API-key authentications per peer address and per
 * (subject, peer) in the Store, so the limits hold across instances. Keyed
 * limits, never a global lockout: an attacker hammering a client id from one
 * address does not lock out the real client calling from another. A success
 * costs no store access at all (the hot path stays in process): only
 * failures are counted, and a peer found over its limit is refused here
 * before any secret is checked until its window ends. With the store away,
 * an in-process counter takes over (fail open, but still bounded per instance).
 */
export class AuthRateLimiter {
  private readonly local = new Map<string, { count: number; resetAt: number }>();
  private readonly blocked = new Map<string, number>();

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      settings: RateLimitSettings;
      events?: RateLimitEvents;
      /** Told once per lockout (the failure that crossed the limit, counted across instances): the audit trail's peer.locked_out. */
      lockouts?: (lockout: Lockout) => void;
    },
  ) {}

  /** Throws ResourceExhausted when this peer, or this subject from this peer, was found over its limit. */
  checkNotBlocked(subject: string | undefined, peer: string | undefined): void {
    if (peer === undefined || this.blocked.size === 0) return;
    const now = this.deps.clock.now();
    for (const key of this.keysOf(subject, peer)) {
      const until = this.blocked.get(key);
      if (until === undefined) continue;
      if (until <= now) {
        this.blocked.delete(key);
        continue;
      }
      this.deps.events?.limited(key.startsWith("peer:") ? "peer" : "subject");
      throw slowDown(Math.max(1, Math.ceil((until - now) / 1000)));
    }
  }

  /** Records one failed authentication; throws ResourceExhausted when it put the caller over a limit. */
  async recordFailure(subject: string | undefined, peer: string | undefined): Promise<void> {
    if (peer === undefined) return;
    const { settings } = this.deps;
    const keys = this.keysOf(subject, peer);
    const counts = await Promise.all(keys.map((key) => this.increment(key)));
    const now = this.deps.clock.now();
    let over = false;
    keys.forEach((key, index) => {
      const limit = key.startsWith("peer:") ? settings.failuresPerPeer : settings.failuresPerSubjectAndPeer;
      if (counts[index]! > limit) {
        over = true;
        if (counts[index] === limit + 1) {
          const perPeer = key.startsWith("peer:");
          this.deps.lockouts?.({ peer, ...(perPeer ? {} : { subject }), limit: perPeer ? "peer" : "client", windowSeconds: settings.windowSeconds });
        }
        this.blocked.set(key, now + settings.windowSeconds * 1000);
        if (this.blocked.size > 100_000) this.blocked.delete(this.blocked.keys().next().value as string);
      }
    });
    if (over) {
      this.deps.events?.limited(counts[0]! > settings.failuresPerPeer ? "peer" : "subject");
      throw slowDown(settings.windowSeconds);
    }
  }

  private keysOf(subject: string | undefined, peer: string): string[] {
    return subject === undefined ? [`peer:${peer}`] : [`peer:${peer}`, `subject:${subject}|${peer}`];
  }

  private async increment(key: string): Promise<number> {
    try {
      return await this.deps.store.incr(storeKeys.failedAuth(key), this.deps.settings.windowSeconds * 1000);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.deps.events?.fellBackToLocal();
      const now = this.deps.clock.now();
      const entry = this.local.get(key);
      if (entry === undefined || entry.resetAt <= now) {
        this.local.set(key, { count: 1, resetAt: now + this.deps.settings.windowSeconds * 1000 });
        if (this.local.size > 100_000) this.local.delete(this.local.keys().next().value as string);
        return 1;
      }
      entry.count += 1;
      return entry.count;
    }
  }
}
