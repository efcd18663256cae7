import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChangeFeed, ChangeFeedEntry, FeedEvent } from "../../src/domain/change-feed.js";
import { ManualClock } from "../../src/domain/clock.js";
import { FeedFollower, type FeedCaches } from "../../src/domain/feed-follower.js";
import { MemoryStore } from "../../src/store/memory.js";
import { UnreliableFeed } from "../support/unreliable-feed.js";

/**
 * FeedFollower on a memory store (issue 18, item 2): which cache each event
 * clears, where it starts, and what it does when the feed cannot be read; and
 * that one read serves every subscribed watcher, a subscriber that caught up
 * behind it being told to read on. The caches are recorders, so the test sees
 * exactly what was dropped; the two-instance behaviour on Redis is in
 * test/admin/feed-follower.test.ts, the watchers' side in
 * test/domain/revocation-watch.test.ts.
 */

const KEEP = { retainMs: 600_000 };
const tokens = [
  { jti: "j-1", client_id: "orders" },
  { jti: "j-2", client_id: "orders" },
  { jti: "j-3", client_id: "billing" },
];

let clock: ManualClock;
let memory: MemoryStore;
/** Its `down` makes every feed read fail, as an unreachable Redis does. */
let unreliable: UnreliableFeed;
let feed: ChangeFeed;
let dropped: string[];
let caches: FeedCaches;
let follower: FeedFollower;

beforeEach(() => {
  clock = new ManualClock(1_700_000_000_000);
  memory = new MemoryStore(clock);
  unreliable = new UnreliableFeed(memory, KEEP.retainMs);
  feed = unreliable.feed;
  dropped = [];
  caches = {
    clients: { readThrough: false, forget: (id) => dropped.push(`client ${id}`), forgetAll: () => dropped.push("all clients") },
    apiKeys: { readThrough: false, forgetName: (name) => dropped.push(`api key ${name}`), forgetAll: () => dropped.push("all api keys") },
    verifiedTokens: {
      forgetVerified: (matches) => {
        const jtis = tokens.filter(matches).map((claims) => claims.jti);
        dropped.push(`tokens ${jtis.join(",")}`);
      },
    },
    keyRing: { reload: async () => void dropped.push("key ring") },
  };
  follower = new FeedFollower({ feed, caches, pollMs: 5, logger: pino({ level: "silent" }) });
});
afterEach(async () => {
  follower.stop();
  await memory.close();
});

const append = (event: FeedEvent) => feed.append(event);

describe("FeedFollower", () => {
  it("drops the revoked tokens of a whole page in one pass over the verified-token cache, not one pass per entry", async () => {
    follower.start();
    await follower.whenReachable(true);
    const events: FeedEvent[] = [
      { type: "access_token_revoked", jti: "j-1", exp: 1_700_000_600 },
      { type: "access_token_revoked", jti: "j-3", exp: 1_700_000_600 },
      { type: "client_tokens_revoked", clientId: "orders", issuedBeforeMs: 1_700_000_000_000 },
      { type: "client_changed", clientId: "billing" },
    ];
    follower.stop();
    let last = "";
    for (const event of events) last = await append(event);
    follower = new FeedFollower({ feed, caches, pollMs: 5, logger: pino({ level: "silent" }) });
    // Positioned at the end: rewind it by joining with the cursor before the burst.
    follower.join("0-0");
    follower.start();
    await follower.waitFor(last);
    expect(dropped.filter((line) => line.startsWith("tokens"))).toEqual(["tokens j-1,j-2,j-3"]);
    expect(dropped).toContain("client billing");
  });

  it("starts at the feed's end: what was announced before it started is not applied", async () => {
    await append({ type: "client_changed", clientId: "before" });
    follower.start();
    await follower.whenReachable(true);
    await follower.waitFor(await append({ type: "client_changed", clientId: "after" }));
    expect(dropped).toEqual(["client after"]);
  });

  it("on an empty feed, applies the first entry ever written", async () => {
    follower.start();
    await follower.whenReachable(true);
    await follower.waitFor(await append({ type: "api_key_changed", name: "first" }));
    expect(dropped).toEqual(["api key first"]);
  });

  it.each<[FeedEvent, string]>([
    [{ type: "client_changed", clientId: "orders" }, "client orders"],
    [{ type: "api_key_changed", name: "backend" }, "api key backend"],
    [{ type: "access_token_revoked", jti: "j-2", exp: 1_700_000_600 }, "tokens j-2"],
    [{ type: "client_tokens_revoked", clientId: "orders", issuedBeforeMs: 1_700_000_000_000 }, "tokens j-1,j-2"],
    [{ type: "signing_keys_changed" }, "key ring"],
  ])("%j drops %s, and nothing else", async (event, expected) => {
    follower.start();
    await follower.whenReachable(true);
    await follower.waitFor(await append(event));
    expect(dropped).toEqual([expected]);
  });

  describe("with the tenants loaded here (the default tenant's caches)", () => {
    let withTenants: FeedFollower;
    beforeEach(() => {
      const tenants: NonNullable<FeedCaches["tenants"]> = {
        changed: async (ids) => void dropped.push(`tenants changed ${ids.join(",")}`),
        recheck: async () => void dropped.push("tenants rechecked"),
      };
      withTenants = new FeedFollower({ feed, caches: { ...caches, tenants }, pollMs: 5, logger: pino({ level: "silent" }) });
    });
    afterEach(() => withTenants.stop());

    it("tenant_changed has the tenants it names checked against the store, and nothing else", async () => {
      withTenants.start();
      await withTenants.whenReachable(true);
      await append({ type: "tenant_changed", tenantId: "acme" });
      await append({ type: "tenant_changed", tenantId: "globex" });
      await withTenants.waitFor(await append({ type: "tenant_changed", tenantId: "acme" }));
      expect(dropped.every((item) => item.startsWith("tenants changed "))).toBe(true);
      const checked = dropped.flatMap((item) => item.slice("tenants changed ".length).split(","));
      expect(new Set(checked)).toEqual(new Set(["acme", "globex"]));
    });

    it("back after a failed read, the loaded tenants are checked against the store (a tenant_changed may have been missed)", async () => {
      withTenants.start();
      await withTenants.whenReachable(true);
      unreliable.down = true;
      await withTenants.whenReachable(false);
      await append({ type: "tenant_changed", tenantId: "missed" });
      unreliable.down = false;
      await withTenants.whenReachable(true);
      expect(dropped).toContain("tenants rechecked");
    });
  });

  it("a failed read makes the caches read through; the next good read clears them all and goes on from its cursor", async () => {
    follower.start();
    await follower.whenReachable(true);
    unreliable.down = true;
    await follower.whenReachable(false);
    expect([caches.clients.readThrough, caches.apiKeys.readThrough]).toEqual([true, true]);
    const missed = await append({ type: "client_changed", clientId: "missed" });
    unreliable.down = false;
    await follower.whenReachable(true);
    expect([caches.clients.readThrough, caches.apiKeys.readThrough]).toEqual([false, false]);
    expect(dropped).toEqual(["all clients", "all api keys", "tokens j-1,j-2,j-3", "key ring"]);
    expect(follower.appliedCursor).toBe(missed);
    await follower.waitFor(await append({ type: "client_changed", clientId: "next" }));
    expect(dropped.at(-1)).toBe("client next");
  });

  it("back after the feed was trimmed past its cursor, it clears everything and resumes from the feed's end", async () => {
    follower.start();
    await follower.whenReachable(true);
    await follower.waitFor(await append({ type: "client_changed", clientId: "seen" }));
    unreliable.down = true;
    await follower.whenReachable(false);
    clock.advance(60_000);
    // Appended with a short retention: the entry the follower is at, and the one after it, go.
    await feed.append({ type: "client_changed", clientId: "trimmed" });
    clock.advance(60_000);
    const held = await memory.feedAppend({ type: "client_changed", client_id: "held" }, { retainMs: 1_000 });
    expect((await memory.feedRead(undefined, 10)).oldest).toBe(held);
    // More than one page held after the cursor: resuming from it would take several polls to catch up.
    let end = held;
    for (let i = 0; i < 600; i++) end = await append({ type: "client_changed", clientId: `backlog-${i}` });
    dropped.length = 0;
    unreliable.down = false;
    await follower.whenReachable(true);
    expect(dropped).toEqual(["all clients", "all api keys", "tokens j-1,j-2,j-3", "key ring"]);
    expect(follower.appliedCursor).toBe(end);
  });

  it("unreachable at start, it finds the end once the feed answers, and follows from there", async () => {
    unreliable.down = true;
    await append({ type: "client_changed", clientId: "old" });
    follower.start();
    await follower.whenReachable(false);
    unreliable.down = false;
    await follower.whenReachable(true);
    await follower.waitFor(await append({ type: "client_changed", clientId: "new" }));
    expect(dropped.filter((entry) => entry.startsWith("client "))).toEqual(["client new"]);
  });
});

describe("FeedFollower's subscribers", () => {
  /** Resolves the first batch of entries delivered to a new subscriber. */
  function nextBatch(): Promise<readonly ChangeFeedEntry[]> {
    return new Promise((resolve) => {
      const unsubscribe = follower.subscribe({
        received: (entries) => {
          unsubscribe();
          resolve(entries);
        },
        skipped: () => {},
      });
    });
  }

  it("delivers each read to every subscriber: one read of the store, whatever their number", async () => {
    follower.start();
    await follower.whenReachable(true);
    const start = await append({ type: "signing_keys_changed" });
    await follower.waitFor(start);
    const batches = Array.from({ length: 10 }, nextBatch);
    expect(follower.join(start)).toBe(true);
    await append({ type: "access_token_revoked", jti: "j-1", exp: 1_700_000_600 });
    const received = await Promise.all(batches);
    expect(received[0]!.map((entry) => entry.event)).toEqual([{ type: "access_token_revoked", jti: "j-1", exp: 1_700_000_600 }]);
    // The very same array: one page read from the store, fanned out.
    for (const batch of received) expect(batch).toBe(received[0]);
  });

  it("tells a subscriber that caught up to a cursor it has already passed to read on, and takes one at or beyond its position", async () => {
    follower.start();
    await follower.whenReachable(true);
    const first = await append({ type: "signing_keys_changed" });
    await follower.waitFor(first);
    const batch = nextBatch();
    expect(follower.join(first)).toBe(true);
    const second = await append({ type: "client_changed", clientId: "orders" });
    expect((await batch).map((entry) => entry.cursor)).toEqual([second]);
    expect(follower.join(first)).toBe(false);
    expect(follower.join(second)).toBe(true);
  });
});
