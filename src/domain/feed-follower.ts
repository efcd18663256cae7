import type { Logger } from "pino";
import { compareFeedCursors } from "../store/feed-cursor.js";
import type { ChangeFeed, FeedEvent } from "./change-feed.js";

/** What an instance caches that a feed event can make wrong. */
export interface FeedCaches {
  clients: { readThrough: boolean; forget(clientId: string): void; forgetAll(): void };
  apiKeys: { readThrough: boolean; forgetName(name: string): void; forgetAll(): void };
  verifiedTokens: { forgetVerified(matches: (claims: { jti: string; client_id: string }) => boolean): void };
  keyRing: { reload(): Promise<void> };
}

/** Entries read per poll: a burst of admin changes is applied in a few polls, not one huge read. */
const PAGE = 500;

/**
 * Follows the change feed from its end at start-up (the caches start empty,
 * so history matters not) and drops what each event makes stale, so a change
 * acknowledged on one instance holds on every instance within about one poll
 * interval. One read at a time. A read that fails makes the caches read
 * through until one succeeds; then everything cached goes, since events may
 * have been missed meanwhile.
 */
export class FeedFollower {
  private cursor: string | undefined;
  /** False until the feed's end is known: then reads start after it. */
  private positioned = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly waiters = new Set<() => void>();
  /** False after a failed read, until a read succeeds. */
  reachable = true;

  constructor(
    private readonly deps: { feed: ChangeFeed; caches: FeedCaches; pollMs: number; logger: Logger },
  ) {}

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The cursor of the last entry applied (undefined before any). */
  get appliedCursor(): string | undefined {
    return this.cursor;
  }

  /** Resolves once the entry at `cursor` (and every one before it) is applied. */
  waitFor(cursor: string): Promise<void> {
    return this.until(() => this.cursor !== undefined && compareFeedCursors(this.cursor, cursor) >= 0);
  }

  /** Resolves once a read failed (false), or once the follower is positioned and reading (true). */
  whenReachable(reachable: boolean): Promise<void> {
    return this.until(() => (reachable ? this.positioned && this.reachable : !this.reachable));
  }

  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll().finally(() => this.schedule(this.deps.pollMs)), ms);
    // A poll pending must not keep a process alive that is otherwise done.
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      if (!this.positioned) {
        this.cursor = await this.deps.feed.end();
        this.positioned = true;
      }
      const page = await this.deps.feed.read(this.cursor, PAGE);
      if (this.reachable) {
        await this.apply(page.entries.map((entry) => entry.event));
        this.cursor = page.next;
      } else {
        this.cursor = await this.recovered(page.next, page.oldest);
        this.reachable = true;
        this.setReadThrough(false);
      }
    } catch (error) {
      if (this.reachable) this.deps.logger.warn({ err: error }, "change feed unreachable: caches read through the store until it is back");
      this.reachable = false;
      this.setReadThrough(true);
    }
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * Back after failed reads: whatever was announced meanwhile is unknown, so
   * every cache goes and the key ring is read again. A cursor the feed has
   * trimmed since would only replay what dropping everything already covers.
   */
  private async recovered(next: string | undefined, oldest: string | undefined): Promise<string | undefined> {
    const trimmed = this.cursor !== undefined && oldest !== undefined && compareFeedCursors(this.cursor, oldest) < 0;
    // The end is read before the caches go: a change announced after it is applied by the next poll.
    const resume = trimmed ? await this.deps.feed.end() : next;
    const { caches } = this.deps;
    caches.clients.forgetAll();
    caches.apiKeys.forgetAll();
    caches.verifiedTokens.forgetVerified(() => true);
    await this.reloadKeys();
    this.deps.logger.info("change feed readable again: caches cleared");
    return resume;
  }

  private async apply(events: FeedEvent[]): Promise<void> {
    const { caches } = this.deps;
    let reload = false;
    for (const event of events) {
      switch (event.type) {
        case "client_changed":
          caches.clients.forget(event.clientId);
          break;
        case "api_key_changed":
          caches.apiKeys.forgetName(event.name);
          break;
        case "access_token_revoked":
          caches.verifiedTokens.forgetVerified((claims) => claims.jti === event.jti);
          break;
        case "client_tokens_revoked":
          caches.verifiedTokens.forgetVerified((claims) => claims.client_id === event.clientId);
          break;
        case "signing_keys_changed":
          reload = true;
          break;
      }
    }
    // Once per page, and awaited: the entry counts as applied when the ring has it.
    if (reload) await this.reloadKeys();
  }

  private async reloadKeys(): Promise<void> {
    try {
      await this.deps.caches.keyRing.reload();
    } catch (error) {
      // The periodic refresh (signingKeys.refreshSeconds) tries again.
      this.deps.logger.warn({ err: error }, "signing keys changed, but the key ring could not be re-read");
    }
  }

  private setReadThrough(on: boolean): void {
    this.deps.caches.clients.readThrough = on;
    this.deps.caches.apiKeys.readThrough = on;
  }
}
