import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChangeFeed, type ChangeFeedEntry } from "../../src/domain/change-feed.js";
import { ManualClock } from "../../src/domain/clock.js";
import { WatchPoller } from "../../src/domain/watch-poller.js";
import { MemoryStore } from "../../src/store/memory.js";

/**
 * The one feed poller per instance behind WatchRevocations: one read serves
 * every listener, and a listener that caught up behind it is told to read on.
 */

let store: MemoryStore;
let feed: ChangeFeed;
let follower: WatchPoller;
beforeEach(() => {
  store = new MemoryStore(new ManualClock(1_700_000_000_000));
  feed = new ChangeFeed({ store, retainMs: 600_000 });
  follower = new WatchPoller({ feed, pollMs: 5 });
});
afterEach(async () => {
  follower.close();
  await store.close();
});

/** Resolves the first batch of entries delivered to a new listener. */
function nextBatch(): Promise<readonly ChangeFeedEntry[]> {
  return new Promise((resolve) => {
    const unsubscribe = follower.subscribe((entries) => {
      unsubscribe();
      resolve(entries);
    });
  });
}

describe("WatchPoller", () => {
  it("delivers each read to every listener: one read of the store, whatever their number", async () => {
    const start = await feed.append({ type: "signing_keys_changed" });
    const batches = Array.from({ length: 10 }, nextBatch);
    expect(follower.join(start)).toBe(true);
    await feed.append({ type: "access_token_revoked", jti: "j-1", exp: 1_700_000_600 });
    const received = await Promise.all(batches);
    expect(received[0]!.map((entry) => entry.event)).toEqual([{ type: "access_token_revoked", jti: "j-1", exp: 1_700_000_600 }]);
    // The very same array: one page read from the store, fanned out.
    for (const batch of received) expect(batch).toBe(received[0]);
  });

  it("tells a listener that caught up to a cursor it has already passed to read on, and takes one at or beyond its position", async () => {
    const first = await feed.append({ type: "signing_keys_changed" });
    const batch = nextBatch();
    expect(follower.join(first)).toBe(true);
    const second = await feed.append({ type: "client_changed", clientId: "orders" });
    expect((await batch).map((entry) => entry.cursor)).toEqual([second]);
    expect(follower.join(first)).toBe(false);
    expect(follower.join(second)).toBe(true);
  });
});
