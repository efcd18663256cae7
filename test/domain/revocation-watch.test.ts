import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import type { CallerAuthenticator } from "../../src/domain/caller.js";
import { encodeFeedEvent, type ChangeFeed, type FeedEvent } from "../../src/domain/change-feed.js";
import type { ClientCredentials } from "../../src/domain/client-authenticator.js";
import { ManualClock } from "../../src/domain/clock.js";
import { FeedFollower, type FeedCaches } from "../../src/domain/feed-follower.js";
import { RevocationWatch, type WatchMessage } from "../../src/domain/revocation-watch.js";
import { WATCH_QUEUE_LIMIT } from "../../src/domain/watcher-inbox.js";
import { MemoryStore } from "../../src/store/memory.js";
import { UnreliableFeed } from "../support/unreliable-feed.js";

/**
 * RevocationWatch behind the instance's feed follower, on a memory store whose
 * feed reads can be made to fail: what a watcher gets when the feed was
 * unreachable (and trimmed meanwhile), when its catch-up ends behind the
 * follower, when it joins before the follower found the feed's end, and when it
 * stops reading its stream. Authentication, transports and Redis are in
 * test/rpc/watch-revocations.test.ts.
 */

const KEEP_MS = 600_000;
const FAR_EXP = 1_800_000_000;
/** Every caller is let in: who may watch is test/rpc/watch-revocations.test.ts's concern. */
const anyone = { authenticate: async () => ({ kind: "bearer" }) } as unknown as CallerAuthenticator;
const credentials: ClientCredentials = { authorization: "Bearer test" } as ClientCredentials;
/** The feed's caches are test/domain/feed-follower.test.ts's concern: here they drop nothing. */
const noCaches: FeedCaches = {
  clients: { readThrough: false, forget: () => {}, forgetAll: () => {} },
  apiKeys: { readThrough: false, forgetName: () => {}, forgetAll: () => {} },
  verifiedTokens: { forgetVerified: () => {} },
  keyRing: { reload: async () => {} },
};

let clock: ManualClock;
let memory: MemoryStore;
/** Its `down` makes every feed read fail, as an unreachable Redis does. */
let unreliable: UnreliableFeed;
let feed: ChangeFeed;
let follower: FeedFollower;
let watch: RevocationWatch;
let joins: MockInstance<(cursor: string) => boolean>;
const opened: Array<{ stream: AsyncGenerator<WatchMessage>; controller: AbortController }> = [];

beforeEach(() => {
  clock = new ManualClock(1_700_000_000_000);
  memory = new MemoryStore(clock);
  unreliable = new UnreliableFeed(memory, KEEP_MS);
  feed = unreliable.feed;
  follower = new FeedFollower({ feed, caches: noCaches, pollMs: 5, logger: pino({ level: "silent" }) });
  joins = vi.spyOn(follower, "join");
  watch = new RevocationWatch({ callers: anyone, tenant: "default", feed, follower, publishedKids: () => ["k-1"], clock, heartbeatMs: 50 });
});
afterEach(async () => {
  for (const { stream, controller } of opened.splice(0)) {
    controller.abort();
    await stream.return(undefined).catch(() => {});
  }
  follower.stop();
  await memory.close();
});

const revoked = (jti: string): FeedEvent => ({ type: "access_token_revoked", jti, exp: FAR_EXP });
const append = (event: FeedEvent) => feed.append(event);

function openWatch(cursor = ""): AsyncGenerator<WatchMessage> {
  const controller = new AbortController();
  const stream = watch.watch(credentials, { cursor }, controller.signal);
  opened.push({ stream, controller });
  return stream;
}

async function next(stream: AsyncGenerator<WatchMessage>): Promise<WatchMessage> {
  const result = await stream.next();
  if (result.done) throw new Error("the stream ended");
  return result.value;
}

/** The next snapshot or event: heartbeats are skipped. */
async function nextChange(stream: AsyncGenerator<WatchMessage>): Promise<WatchMessage> {
  for (;;) {
    const message = await next(stream);
    if (message.kind !== "heartbeat") return message;
  }
}

/** Reads up to the first heartbeat: a heartbeat is sent only once the watcher is live (joined to the follower). */
async function untilLive(stream: AsyncGenerator<WatchMessage>): Promise<WatchMessage[]> {
  const changes: WatchMessage[] = [];
  for (;;) {
    const message = await next(stream);
    if (message.kind === "heartbeat") return changes;
    changes.push(message);
  }
}

const cursorOf = (message: WatchMessage) => (message.kind === "snapshot" ? message.snapshot.cursor : message.cursor);

describe("RevocationWatch behind the instance's feed follower", () => {
  it("sends a signing_keys_changed with the kids it names (none, for a tenant being deleted), and never the instances' tenant_changed", async () => {
    follower.start();
    const stream = openWatch();
    expect((await nextChange(stream)).kind).toBe("snapshot");
    await untilLive(stream);
    await append({ type: "tenant_changed", tenantId: "acme" });
    await append({ type: "signing_keys_changed" });
    await append({ type: "signing_keys_changed", signingKeyIds: [] });
    const [ownRing, named] = [await nextChange(stream), await nextChange(stream)];
    expect(ownRing).toMatchObject({ kind: "event", event: { type: "signing_keys_changed" }, signingKeyIds: ["k-1"] });
    expect(named).toMatchObject({ kind: "event", event: { type: "signing_keys_changed" }, signingKeyIds: [] });
  });

  it("retired (its tenant was changed or deleted), a live stream sends what the feed holds for it, then ends with Unavailable", async () => {
    follower.start();
    const stream = openWatch();
    expect((await nextChange(stream)).kind).toBe("snapshot");
    await untilLive(stream);
    // Appended, and the stream retired before the follower delivered it: read from the feed itself.
    const cursor = await append(revoked("last-word"));
    watch.retire();
    expect(await nextChange(stream)).toMatchObject({ kind: "event", cursor, event: { jti: "last-word" } });
    await expect(nextChange(stream)).rejects.toMatchObject({ kind: "unavailable", description: expect.stringMatching(/reconnect and resume/) });
  });

  it("back after an outage that trimmed nothing, a live watcher gets every entry announced meanwhile, once each and in order", async () => {
    follower.start();
    await follower.whenReachable(true);
    const stream = openWatch();
    await untilLive(stream);
    unreliable.down = true;
    await follower.whenReachable(false);
    // More than one page of the follower: it takes several polls to deliver them.
    const missed: string[] = [];
    for (let i = 0; i < 1_200; i++) missed.push(await append(revoked(`missed-${i}`)));
    unreliable.down = false;
    await follower.whenReachable(true);
    const received: string[] = [];
    while (received.length < missed.length) received.push(cursorOf(await nextChange(stream)));
    expect(received).toEqual(missed);
    const live = await append(revoked("live"));
    expect(cursorOf(await nextChange(stream))).toBe(live);
  });

  it("back after an outage in which the feed was trimmed past the follower, a live watcher is ended with Unavailable; its cursor then gets a fresh snapshot", async () => {
    follower.start();
    await follower.whenReachable(true);
    await append(revoked("before"));
    const stream = openWatch();
    await untilLive(stream);
    const seen = await append(revoked("seen"));
    expect(cursorOf(await nextChange(stream))).toBe(seen);
    unreliable.down = true;
    await follower.whenReachable(false);
    clock.advance(60_000);
    await append(revoked("trimmed"));
    clock.advance(60_000);
    // Appended with a short retention: every entry before it goes, the watcher's and the one after it.
    const held = await memory.feedAppend(encodeFeedEvent(revoked("held")), { retainMs: 1_000 });
    expect((await memory.feedRead(undefined, 1)).oldest).toBe(held);
    const pending = nextChange(stream);
    unreliable.down = false;
    await follower.whenReachable(true);
    await expect(pending).rejects.toMatchObject({ kind: "unavailable", description: expect.stringContaining("reconnect and resume from your cursor") });

    const resumed = openWatch(seen);
    const snapshot = await nextChange(resumed);
    expect(snapshot.kind === "snapshot" && snapshot.snapshot.cursor).toBe(held);
    expect(snapshot.kind === "snapshot" && snapshot.snapshot.revokedTokens.map((token) => token.jti)).toContain("held");
    await untilLive(resumed);
    const live = await append(revoked("live"));
    expect(cursorOf(await nextChange(resumed))).toBe(live);
  });

  it("a watcher whose catch-up ends behind the follower reads on: the entry the follower passed meanwhile arrives once, then live ones", async () => {
    follower.start();
    await follower.whenReachable(true);
    const from = await append(revoked("from"));
    const missed = [await append(revoked("missed-1")), await append(revoked("missed-2"))];
    // Past `from`: the follower's own reads never start there.
    await follower.waitFor(missed[1]!);
    let passed = "";
    // While the watcher catches up from `from`, an entry is appended and the follower reads past it.
    unreliable.onRead = async (after) => {
      if (after !== from) return;
      unreliable.onRead = undefined;
      passed = await append(revoked("passed"));
      await follower.waitFor(passed);
    };
    const stream = openWatch(from);
    const caughtUp = await untilLive(stream);
    expect(joins.mock.results.map((result) => result.value)).toEqual([false, true]);
    const live = await append(revoked("live"));
    expect([...caughtUp, await nextChange(stream)].map(cursorOf)).toEqual([...missed, passed, live]);
  });

  it("a watcher that joins before the follower found the feed's end misses nothing appended meanwhile", async () => {
    const stream = openWatch();
    expect((await nextChange(stream)).kind).toBe("snapshot");
    const pending = nextChange(stream);
    await vi.waitUntil(() => joins.mock.calls.length > 0);
    const first = await append(revoked("first"));
    follower.start();
    expect(cursorOf(await pending)).toBe(first);
  });

  it(`a watcher that does not read its stream while more than ${WATCH_QUEUE_LIMIT} entries arrive is ended with Unavailable; its cursor resumes it`, async () => {
    follower.start();
    await follower.whenReachable(true);
    await append(revoked("before"));
    const stream = openWatch();
    const [snapshot] = await untilLive(stream);
    // The stream is not read from here on: what the follower delivers queues up.
    const appended: string[] = [];
    for (let i = 0; i <= WATCH_QUEUE_LIMIT; i++) appended.push(await append(revoked(`burst-${i}`)));
    await follower.waitFor(appended.at(-1)!);
    await expect(next(stream)).rejects.toMatchObject({ kind: "unavailable", description: "fell behind: reconnect and resume from your cursor" });

    const resumed = openWatch(cursorOf(snapshot!));
    const received: string[] = [];
    while (received.length < appended.length) received.push(cursorOf(await nextChange(resumed)));
    expect(received).toEqual(appended);
  });
});
