import type { Logger } from "pino";
import { compareFeedCursors } from "../store/feed-cursor.js";
import type { ChangeFeed } from "./change-feed.js";
import { FeedCacheInvalidation, type FeedCaches } from "./feed-caches.js";

export type { FeedCaches } from "./feed-caches.js";

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
  private readonly caches: FeedCacheInvalidation;
  /** False after a failed read, until a read succeeds. */
  reachable = true;

  constructor(
    private readonly deps: { feed: ChangeFeed; caches: FeedCaches; pollMs: number; logger: Logger },
  ) {
    this.caches = new FeedCacheInvalidation(deps.caches, deps.logger);
  }

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
        await this.caches.apply(page.entries.map((entry) => entry.event));
        this.cursor = page.next;
      } else {
        this.cursor = await this.recovered(page.next, page.oldest);
        this.reachable = true;
        this.caches.readThrough = false;
      }
    } catch (error) {
      if (this.reachable) this.deps.logger.warn({ err: error }, "change feed unreachable: caches read through the store until it is back");
      this.reachable = false;
      this.caches.readThrough = true;
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
    await this.caches.forgetEverything();
    this.deps.logger.info("change feed readable again: caches cleared");
    return resume;
  }
}
