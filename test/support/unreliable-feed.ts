import { ChangeFeed } from "../../src/domain/change-feed.js";
import type { MemoryStore } from "../../src/store/memory.js";
import type { FeedPage, Store } from "../../src/store/store.js";

/**
 * The change feed of a real MemoryStore whose reads fail while `down` is
 * set, as they do while Redis does not answer (appends still succeed: they
 * stand for another instance's). For unit tests of the feed's readers, which
 * must play an outage on a clock the test drives.
 */
export class UnreliableFeed {
  down = false;
  /** Called with each read that succeeded, before its reader gets the page: lets a test act between a read and its use. */
  onRead: ((after: string | undefined, page: FeedPage) => Promise<void>) | undefined;
  readonly feed: ChangeFeed;

  constructor(memory: MemoryStore, retainMs: number) {
    const whenUp = <T>(read: () => Promise<T>) => (this.down ? Promise.reject(new Error("feed down")) : read());
    const store = {
      feedAppend: (fields, options) => memory.feedAppend(fields, options),
      feedRead: (after, count) =>
        whenUp(async () => {
          const page = await memory.feedRead(after, count);
          await this.onRead?.(after, page);
          return page;
        }),
      feedLast: () => whenUp(() => memory.feedLast()),
    } satisfies Pick<Store, "feedAppend" | "feedRead" | "feedLast">;
    this.feed = new ChangeFeed({ store: store as unknown as Store, retainMs });
  }
}
