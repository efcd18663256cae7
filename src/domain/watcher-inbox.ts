import { compareFeedCursors } from "../store/feed-cursor.js";
import type { ChangeFeedEntry } from "./change-feed.js";
import type { FeedListener } from "./feed-follower.js";
import { OAuthError } from "./oauth-error.js";

/**
 * The most entries a watcher may have delivered to it and not yet sent. A
 * watcher that does not read its stream (a stalled resource server, a full
 * HTTP/2 window) would otherwise hold every entry the feed gets, without
 * bound; past this it is ended, and resumes from its cursor when it
 * reconnects. Ten thousand entries are about a megabyte, and far more than a
 * reading watcher ever has queued between two of its turns.
 */
export const WATCH_QUEUE_LIMIT = 10_000;

/**
 * One WatchRevocations stream's side of the feed follower: the entries
 * delivered to it and not yet sent, and whether it can still be kept current.
 * It can not once it fell behind (WATCH_QUEUE_LIMIT), or once the follower
 * skipped entries it had not reached; then `ended` says why, the queue is
 * let go, and the stream ends with Unavailable: the watcher reconnects with
 * its cursor and gets what it missed, or a snapshot.
 */
export class WatcherInbox implements FeedListener {
  private queue: ChangeFeedEntry[] = [];
  /** The cursor the watcher joined the follower with: from there on it must miss nothing. */
  private joinedAt: string | undefined;
  /** The cursor of the last entry delivered. */
  private lastReceived: string | undefined;
  private wake: (() => void) | undefined;
  /** Why the stream must end, once it must. */
  ended: OAuthError | undefined;

  received(entries: readonly ChangeFeedEntry[]): void {
    if (this.ended !== undefined) return;
    if (this.queue.length + entries.length > WATCH_QUEUE_LIMIT) return this.end("fell behind: reconnect and resume from your cursor");
    for (const entry of entries) this.queue.push(entry);
    this.lastReceived = entries.at(-1)?.cursor ?? this.lastReceived;
    this.wakeUp();
  }

  /** Before it joined the watcher reads the feed itself, and `join` sends it on past the gap; after, it cannot fill it. */
  skipped(cursor: string): void {
    if (this.ended !== undefined || this.joinedAt === undefined) return;
    const reached = (held: string | undefined) => held !== undefined && compareFeedCursors(held, cursor) >= 0;
    if (reached(this.joinedAt) || reached(this.lastReceived)) return;
    this.end("changes were skipped while this server could not read the change feed: reconnect and resume from your cursor");
  }

  /** The watcher caught up to `cursor` and joined the follower there. */
  joined(cursor: string): void {
    this.joinedAt = cursor;
  }

  /** Every entry queued since the last call, in one go: shift() per entry is quadratic in a burst. */
  take(): ChangeFeedEntry[] {
    const taken = this.queue;
    this.queue = [];
    return taken;
  }

  /** Resolves after `ms`, or sooner when entries arrive, the stream must end, or `wakeUp` is called. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wakeUp(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  wakeUp(): void {
    this.wake?.();
  }

  private end(description: string): void {
    this.ended = new OAuthError("temporarily_unavailable", "unavailable", description);
    this.queue = [];
    this.wakeUp();
  }
}
