import type { ChangeFeed, ChangeFeedEntry } from "./change-feed.js";
import { compareFeedCursors } from "../store/feed-cursor.js";

const PAGE = 1_000;

/** Receives every entry the follower reads, in feed order, synchronously. */
export type FeedListener = (entries: readonly ChangeFeedEntry[]) => void;

/**
 * One poller per instance that reads the change feed and fans it out to every
 * listener (the open WatchRevocations streams): the store is read once per
 * poll however many watchers there are. It polls only while someone listens.
 *
 * A listener joins in two steps, so that it misses nothing between its own
 * catch-up and the live entries: it subscribes first (entries read from then
 * on reach it), reads the feed itself up to some cursor, then `join`s with
 * that cursor. `join` says whether the follower is no further than that
 * cursor; if it is further, the listener reads on and asks again.
 */
export class WatchPoller {
  private readonly listeners = new Set<FeedListener>();
  /** Where the next poll reads from; undefined while nobody has joined. */
  private position: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;
  /** performance.now() of the last successful read. */
  private lastReadAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: { feed: ChangeFeed; pollMs: number; onError?: (error: unknown) => void }) {}

  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True when every entry after `cursor` will reach subscribed listeners; false: read on from `cursor` first. */
  join(cursor: string): boolean {
    if (this.position === undefined) this.position = cursor;
    else if (compareFeedCursors(this.position, cursor) > 0) return false;
    if (!this.polling && this.timer === undefined && !this.closed) this.schedule();
    return true;
  }

  /** Whether the last successful read of the feed was within `ms`: only then may a watcher be told it is current. */
  readWithin(ms: number): boolean {
    return performance.now() - this.lastReadAt <= ms;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.poll(), this.deps.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    if (this.listeners.size === 0 || this.position === undefined) {
      // Nobody listens: forget the position, so an idle instance does not read entries nobody wants when a watcher comes back.
      this.position = undefined;
      return;
    }
    this.polling = true;
    try {
      const page = await this.deps.feed.read(this.position, PAGE);
      this.lastReadAt = performance.now();
      if (page.next !== undefined) this.position = page.next;
      if (page.entries.length > 0) for (const listener of this.listeners) listener(page.entries);
    } catch (error) {
      this.deps.onError?.(error);
    } finally {
      this.polling = false;
    }
    if (!this.closed) this.schedule();
  }
}
