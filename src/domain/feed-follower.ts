import type { Logger } from "pino";
import { compareFeedCursors } from "../store/feed-cursor.js";
import type { ChangeFeed, ChangeFeedEntry, FeedEvent } from "./change-feed.js";
import { FeedCacheInvalidation, onlyTenant, type FeedCaches, type TenantCacheDirectory } from "./feed-caches.js";

export type { FeedCaches } from "./feed-caches.js";

/** Entries read per poll: a burst of admin changes is applied in a few polls, not one huge read. */
const PAGE = 500;

/** What the follower tells each subscriber (an open WatchRevocations stream), synchronously, in feed order. */
export interface FeedListener {
  /** The entries of one read: they follow on from the previous delivery, with nothing left out between. */
  received(entries: readonly ChangeFeedEntry[]): void;
  /**
   * The follower moved on to `cursor` without delivering what came before it
   * (back from an outage during which the feed was trimmed past it): a
   * listener that had not reached `cursor` has a gap it cannot fill.
   */
  skipped(cursor: string): void;
}

/**
 * The instance's one reader of the change feed (issue 18): every
 * `pollMs` it reads one page, drops what the page makes stale in the caches,
 * then hands the same page to every subscriber, so the store is read once per
 * poll however many WatchRevocations streams are open. One read at a time.
 *
 * It starts at the feed's end (the caches start empty, so history matters
 * not). A read that fails makes the caches read through until one succeeds;
 * then everything cached goes, since events may have been missed meanwhile,
 * and if the feed was trimmed past the follower it skips on to the feed's end
 * (replaying would only repeat what dropping everything covers), telling the
 * subscribers, which cannot fill that gap themselves.
 *
 * A subscriber joins in two steps, so that it misses nothing between its own
 * catch-up and the live entries: it subscribes first (entries read from then
 * on reach it), reads the feed itself up to some cursor, then `join`s with
 * that cursor. `join` says whether the follower is no further than that
 * cursor; if it is further, the subscriber reads on and asks again.
 */
export class FeedFollower {
  /** The cursor of the last entry applied and delivered; undefined: before every entry. */
  private position: string | undefined;
  /** False until the feed's end is known: then reads start after it. */
  private positioned = false;
  /** The earliest cursor joined before the follower was positioned: it then starts no later. */
  private earliestJoin: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<FeedListener>();
  private readonly caches: TenantCacheDirectory;
  /** performance.now() of the end of the last poll that succeeded. */
  private lastReadAt = Number.NEGATIVE_INFINITY;
  /** False after a failed read, until a read succeeds. */
  reachable = true;

  constructor(
    private readonly deps: { feed: ChangeFeed; caches: FeedCaches | TenantCacheDirectory; pollMs: number; logger: Logger },
  ) {
    this.caches = "of" in deps.caches ? deps.caches : onlyTenant(deps.caches);
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
    return this.position;
  }

  /** Resolves once the entry at `cursor` (and every one before it) is applied. */
  waitFor(cursor: string): Promise<void> {
    return this.until(() => this.position !== undefined && compareFeedCursors(this.position, cursor) >= 0);
  }

  /** Resolves once a read failed (false), or once the follower is positioned and reading (true). */
  whenReachable(reachable: boolean): Promise<void> {
    return this.until(() => (reachable ? this.positioned && this.reachable : !this.reachable));
  }

  /** `listener` gets every poll's entries from now on, until the returned function is called. */
  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True when every entry after `cursor` will reach subscribed listeners; false: read on from `cursor` first. */
  join(cursor: string): boolean {
    if (!this.positioned) {
      if (this.earliestJoin === undefined || compareFeedCursors(cursor, this.earliestJoin) < 0) this.earliestJoin = cursor;
      return true;
    }
    return this.position === undefined || compareFeedCursors(this.position, cursor) <= 0;
  }

  /** Whether the last successful poll was within `ms`: only then may a watcher be told it is current. */
  readWithin(ms: number): boolean {
    return performance.now() - this.lastReadAt <= ms;
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
      if (!this.positioned) await this.findEnd();
      const page = await this.deps.feed.read(this.position, PAGE);
      if (this.reachable) {
        await this.apply(page.entries);
        this.deliver(page.next, page.entries);
      } else {
        await this.recover(page);
      }
      this.lastReadAt = performance.now();
    } catch (error) {
      if (this.reachable) this.deps.logger.warn({ err: error }, "change feed unreachable: caches read through the store, and watchers get no heartbeat, until it is back");
      this.reachable = false;
      this.setReadThrough(true);
    }
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * Starts after the feed's end, or after the earliest cursor a subscriber
   * joined with meanwhile (it read the feed up to there just now, so at most
   * a few entries before the end, and dropping a few more cache entries than
   * needed harms nothing).
   */
  private async findEnd(): Promise<void> {
    const end = await this.deps.feed.end();
    const joined = this.earliestJoin;
    this.position = end === undefined || joined === undefined || compareFeedCursors(end, joined) <= 0 ? end : joined;
    this.positioned = true;
    this.earliestJoin = undefined;
  }

  /**
   * Back after failed reads: whatever was announced meanwhile is unknown, so
   * every cache goes and the key ring is read again. The page read is still
   * every entry after the position, unless the feed has trimmed past it; then
   * the follower skips on to the feed's end, as replaying would only repeat
   * what dropping everything covers for the caches, and the subscribers hear
   * of the gap.
   */
  private async recover(page: { entries: ChangeFeedEntry[]; next: string | undefined; oldest: string | undefined }): Promise<void> {
    const from = this.position;
    const trimmed = from !== undefined && page.oldest !== undefined && compareFeedCursors(from, page.oldest) < 0;
    // The end is read before the caches go: a change announced after it is applied by the next poll.
    const end = trimmed ? await this.deps.feed.end() : undefined;
    await Promise.all([...this.caches.all()].map((caches) => this.invalidation(caches).forgetEverything()));
    this.reachable = true;
    this.setReadThrough(false);
    this.deps.logger.info("change feed readable again: caches cleared");
    if (!trimmed) return this.deliver(page.next, page.entries);
    // An end gone meanwhile (the feed emptied): on after what was read.
    const skippedTo = end ?? page.next ?? from;
    this.position = skippedTo;
    for (const listener of this.listeners) listener.skipped(skippedTo);
  }

  /** Drops what a page makes stale, tenant by tenant: only in the tenants loaded on this instance. */
  private async apply(entries: readonly ChangeFeedEntry[]): Promise<void> {
    const byTenant = new Map<string, FeedEvent[]>();
    for (const { tenant, event } of entries) {
      const events = byTenant.get(tenant);
      if (events === undefined) byTenant.set(tenant, [event]);
      else events.push(event);
    }
    const applied: Array<Promise<void>> = [];
    for (const [tenant, events] of byTenant) {
      const caches = this.caches.of(tenant);
      if (caches !== undefined) applied.push(this.invalidation(caches).apply(events));
    }
    await Promise.all(applied);
  }

  private setReadThrough(on: boolean): void {
    for (const caches of this.caches.all()) this.invalidation(caches).readThrough = on;
  }

  private invalidation(caches: FeedCaches): FeedCacheInvalidation {
    return new FeedCacheInvalidation(caches, this.deps.logger);
  }

  /** Moves on to `next` and hands `entries` (all those up to it) to every subscriber, in one step: a join sees either both or neither. */
  private deliver(next: string | undefined, entries: readonly ChangeFeedEntry[]): void {
    this.position = next;
    if (entries.length > 0) for (const listener of this.listeners) listener.received(entries);
  }
}
