/**
 * The one behavioural contract every Store implementation must pass
 * (MemoryStore, RedisStore standalone and Cluster). Registered per
 * implementation with `describeStoreContract`.
 *
 * Time: an implementation with a controllable clock passes `advance`; without
 * it the suite waits in real time (Redis keeps its own clock), so TTLs here
 * are short, and assertions that a key is still alive use TTLs long enough
 * to be safe on a loaded machine.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compareFeedCursors, parseFeedCursor } from "../../src/store/feed-cursor.js";
import { storeKeys, type Store } from "../../src/store/store.js";

export interface StoreUnderTest {
  store: Store;
  /** Moves the store's clock forward; omitted for stores on real time. */
  advance?: (ms: number) => Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TTL that must expire during a test. */
const SHORT_TTL_MS = 150;
/** Waiting this long after setting SHORT_TTL_MS guarantees expiry. */
const PAST_SHORT_TTL_MS = SHORT_TTL_MS + 100;
/** A TTL that must not expire during a test. */
const LONG_TTL_MS = 60_000;

export function describeStoreContract(name: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let elapse: (ms: number) => Promise<void>;

    beforeEach(async () => {
      const subject = await setup();
      store = subject.store;
      elapse = subject.advance ?? sleep;
    });

    afterEach(async () => {
      await store.close();
    });

    describe("get / set / del", () => {
      it("returns null for a missing key", async () => {
        expect(await store.get("missing")).toBeNull();
      });

      it("stores and overwrites values", async () => {
        expect(await store.set("k", "v1")).toBe(true);
        expect(await store.get("k")).toBe("v1");
        expect(await store.set("k", "v2")).toBe(true);
        expect(await store.get("k")).toBe("v2");
      });

      it("keeps values byte-exact (empty, unicode, JSON)", async () => {
        const values = ["", "ünïcødé ✓ 🔑", JSON.stringify({ a: [1, "two"], b: null }), "line\r\nbreak"];
        for (const [i, value] of values.entries()) {
          await store.set(`v${i}`, value);
        }
        for (const [i, value] of values.entries()) {
          expect(await store.get(`v${i}`)).toBe(value);
        }
      });

      it("del reports whether the key existed", async () => {
        await store.set("k", "v");
        expect(await store.del("k")).toBe(true);
        expect(await store.get("k")).toBeNull();
        expect(await store.del("k")).toBe(false);
        expect(await store.del("never-set")).toBe(false);
      });

      it("keys are independent", async () => {
        await store.set("a", "1");
        await store.set("b", "2");
        await store.del("a");
        expect(await store.get("a")).toBeNull();
        expect(await store.get("b")).toBe("2");
      });
    });

    describe("expiry", () => {
      it("a key set with ttlMs disappears after it", async () => {
        expect(await store.set("k", "v", { ttlMs: SHORT_TTL_MS })).toBe(true);
        expect(await store.get("k")).toBe("v");
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.get("k")).toBeNull();
        expect(await store.ttl("k")).toBeNull();
        expect(await store.del("k")).toBe(false);
      });

      it("a key with a long TTL survives a short wait", async () => {
        await store.set("k", "v", { ttlMs: LONG_TTL_MS });
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.get("k")).toBe("v");
      });

      it("a key without ttlMs does not expire", async () => {
        await store.set("k", "v");
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.get("k")).toBe("v");
        expect(await store.ttl("k")).toBeNull();
      });

      it("overwriting without ttlMs removes the TTL (like SET)", async () => {
        await store.set("k", "v1", { ttlMs: SHORT_TTL_MS });
        await store.set("k", "v2");
        expect(await store.ttl("k")).toBeNull();
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.get("k")).toBe("v2");
      });

      it("overwriting with a new ttlMs replaces the TTL", async () => {
        await store.set("k", "v1", { ttlMs: SHORT_TTL_MS });
        await store.set("k", "v2", { ttlMs: LONG_TTL_MS });
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.get("k")).toBe("v2");
      });
    });

    describe("ttl()", () => {
      it("is null for a missing key", async () => {
        expect(await store.ttl("missing")).toBeNull();
      });

      it("is the remaining time in ms, counting down", async () => {
        await store.set("k", "v", { ttlMs: 10_000 });
        const first = await store.ttl("k");
        expect(first).not.toBeNull();
        expect(first).toBeGreaterThan(9_000);
        expect(first).toBeLessThanOrEqual(10_000);
        await elapse(200);
        const second = await store.ttl("k");
        expect(second).toBeLessThanOrEqual(10_000 - 200);
        expect(second).toBeGreaterThan(8_000);
      });

      it("is null for a key without TTL", async () => {
        await store.set("k", "v");
        expect(await store.ttl("k")).toBeNull();
      });
    });

    describe("set onlyIfAbsent", () => {
      it("writes only when the key is absent", async () => {
        expect(await store.set("k", "first", { onlyIfAbsent: true })).toBe(true);
        expect(await store.set("k", "second", { onlyIfAbsent: true })).toBe(false);
        expect(await store.get("k")).toBe("first");
      });

      it("applies ttlMs when it writes, and leaves the TTL alone when it does not", async () => {
        expect(await store.set("k", "first", { onlyIfAbsent: true, ttlMs: LONG_TTL_MS })).toBe(true);
        expect(await store.ttl("k")).toBeGreaterThan(LONG_TTL_MS - 5_000);
        expect(await store.set("k", "second", { onlyIfAbsent: true, ttlMs: SHORT_TTL_MS })).toBe(false);
        expect(await store.ttl("k")).toBeGreaterThan(LONG_TTL_MS - 5_000);
      });

      it("writes again once the key has expired or been deleted", async () => {
        await store.set("k", "old", { ttlMs: SHORT_TTL_MS });
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.set("k", "new", { onlyIfAbsent: true })).toBe(true);
        expect(await store.get("k")).toBe("new");
        await store.del("k");
        expect(await store.set("k", "newer", { onlyIfAbsent: true })).toBe(true);
        expect(await store.get("k")).toBe("newer");
      });

      it("exactly one of 50 concurrent writers wins", async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.set("race", `writer-${i}`, { onlyIfAbsent: true })),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await store.get("race")).toBe(`writer-${winner}`);
      });
    });

    describe("hashes", () => {
      it("sets, gets, lists and deletes fields under one key", async () => {
        const key = "admin:{things}";
        expect(await store.hashGet(key, "a")).toBeNull();
        expect(await store.hashEntries(key)).toEqual(new Map());
        expect(await store.hashSet(key, "a", "1")).toBe(true);
        expect(await store.hashSet(key, "b", "ünï ✓")).toBe(true);
        expect(await store.hashSet(key, "a", "2")).toBe(true);
        expect(await store.hashGet(key, "a")).toBe("2");
        expect(await store.hashEntries(key)).toEqual(new Map([["a", "2"], ["b", "ünï ✓"]]));
        expect(await store.hashDelete(key, "a")).toBe(true);
        expect(await store.hashDelete(key, "a")).toBe(false);
        expect(await store.hashEntries(key)).toEqual(new Map([["b", "ünï ✓"]]));
      });

      it("onlyIfAbsent writes a field once, among concurrent writers exactly once", async () => {
        const key = "admin:{once}";
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.hashSet(key, "f", String(i), { onlyIfAbsent: true })));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await store.hashGet(key, "f")).toBe(String(winner));
      });

      it("hashCompareAndSet writes a field only while it still holds the value read, byte for byte", async () => {
        const key = "admin:{compared}";
        const read = JSON.stringify({ id: "acme", displayName: "Ünï ✓" });
        expect(await store.hashCompareAndSet(key, "f", read, "never")).toBe(false);
        expect(await store.hashGet(key, "f")).toBeNull();
        await store.hashSet(key, "f", read);
        expect(await store.hashCompareAndSet(key, "f", JSON.stringify({ id: "acme", displayName: "Uni ✓" }), "lookalike")).toBe(false);
        expect(await store.hashCompareAndSet(key, "f", "", "empty")).toBe(false);
        expect(await store.hashGet(key, "f")).toBe(read);
        expect(await store.hashCompareAndSet(key, "f", read, "second")).toBe(true);
        expect(await store.hashGet(key, "f")).toBe("second");
        expect(await store.hashCompareAndSet(key, "f", read, "stale")).toBe(false);
        expect(await store.hashEntries(key)).toEqual(new Map([["f", "second"]]));
        await store.hashSet(key, "blank", "");
        expect(await store.hashCompareAndSet(key, "blank", "", "filled")).toBe(true);
        expect(await store.hashGet(key, "blank")).toBe("filled");
      });

      it("hashCompareAndSet: of concurrent writers that read the same value exactly one wins; a deleted field matches nothing", async () => {
        const key = "admin:{raced}";
        await store.hashSet(key, "f", "read");
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.hashCompareAndSet(key, "f", "read", String(i))));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.hashGet(key, "f")).toBe(String(results.indexOf(true)));
        await store.hashDelete(key, "f");
        expect(await store.hashCompareAndSet(key, "f", String(results.indexOf(true)), "revived")).toBe(false);
        expect(await store.hashGet(key, "f")).toBeNull();
      });

      it("hashCompareAndDelete deletes a field only while it still holds the value read", async () => {
        const key = "admin:{released}";
        expect(await store.hashCompareAndDelete(key, "f", "mine")).toBe(false);
        await store.hashSet(key, "f", "theirs");
        expect(await store.hashCompareAndDelete(key, "f", "mine")).toBe(false);
        expect(await store.hashGet(key, "f")).toBe("theirs");
        expect(await store.hashCompareAndDelete(key, "f", "theirs")).toBe(true);
        expect(await store.hashGet(key, "f")).toBeNull();
        expect(await store.hashCompareAndDelete(key, "f", "theirs")).toBe(false);
        await store.hashSet(key, "other", "kept");
        expect(await store.hashEntries(key)).toEqual(new Map([["other", "kept"]]));
      });

      it("keeps hashes apart from plain keys of other names", async () => {
        await store.hashSet("admin:{h1}", "f", "x");
        expect(await store.hashGet("admin:{h2}", "f")).toBeNull();
      });
    });

    describe("getDel", () => {
      it("returns the value and deletes the key", async () => {
        await store.set("k", "v");
        expect(await store.getDel("k")).toBe("v");
        expect(await store.get("k")).toBeNull();
        expect(await store.getDel("k")).toBeNull();
      });

      it("returns null for a missing or expired key", async () => {
        expect(await store.getDel("missing")).toBeNull();
        await store.set("k", "v", { ttlMs: SHORT_TTL_MS });
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.getDel("k")).toBeNull();
      });

      it("hands the value to exactly one of 50 concurrent callers", async () => {
        await store.set("code", "secret");
        const results = await Promise.all(Array.from({ length: 50 }, () => store.getDel("code")));
        expect(results.filter((r) => r === "secret")).toHaveLength(1);
        expect(results.filter((r) => r === null)).toHaveLength(49);
        expect(await store.get("code")).toBeNull();
      });
    });

    describe("incr", () => {
      it("counts from 1", async () => {
        expect(await store.incr("n", LONG_TTL_MS)).toBe(1);
        expect(await store.incr("n", LONG_TTL_MS)).toBe(2);
        expect(await store.incr("n", LONG_TTL_MS)).toBe(3);
        expect(await store.get("n")).toBe("3");
      });

      it("sets the TTL on the first increment only", async () => {
        expect(await store.incr("n", 1_000)).toBe(1);
        const first = await store.ttl("n");
        expect(first).toBeGreaterThan(0);
        expect(first).toBeLessThanOrEqual(1_000);
        expect(await store.incr("n", LONG_TTL_MS)).toBe(2);
        // Not extended to LONG_TTL_MS by the second increment.
        expect(await store.ttl("n")).toBeLessThanOrEqual(1_000);
      });

      it("starts over from 1 with a fresh TTL after the window expires", async () => {
        await store.incr("n", SHORT_TTL_MS);
        await store.incr("n", SHORT_TTL_MS);
        await elapse(PAST_SHORT_TTL_MS);
        expect(await store.get("n")).toBeNull();
        expect(await store.incr("n", LONG_TTL_MS)).toBe(1);
        expect(await store.ttl("n")).toBeGreaterThan(LONG_TTL_MS - 5_000);
      });

      it("increments an existing counter without giving it a TTL", async () => {
        await store.set("n", "5");
        expect(await store.incr("n", SHORT_TTL_MS)).toBe(6);
        expect(await store.ttl("n")).toBeNull();
      });

      it("is atomic under 50 concurrent increments", async () => {
        const results = await Promise.all(Array.from({ length: 50 }, () => store.incr("n", LONG_TTL_MS)));
        expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        expect(await store.get("n")).toBe("50");
        expect(await store.ttl("n")).toBeGreaterThan(LONG_TTL_MS - 5_000);
      });
    });

    describe("key names", () => {
      it("keeps storeKeys entities with the same id apart", async () => {
        const id = "abc123";
        const keys = [
          storeKeys.grant(id),
          storeKeys.revokedJti(id),
          storeKeys.assertionJti(id, "jti-1"),
          storeKeys.assertionJti(id, "jti-2"),
          storeKeys.failedAuth(id),
          storeKeys.signingKeys(),
        ];
        expect(new Set(keys).size).toBe(keys.length);
        for (const key of keys) await store.set(key, `value of ${key}`);
        for (const key of keys) expect(await store.get(key)).toBe(`value of ${key}`);
        expect(await store.getDel(storeKeys.assertionJti(id, "jti-1"))).toBe(`value of ${storeKeys.assertionJti(id, "jti-1")}`);
        expect(await store.get(storeKeys.assertionJti(id, "jti-2"))).toBe(`value of ${storeKeys.assertionJti(id, "jti-2")}`);
      });

      it("supports every operation on {hashtag} keys", async () => {
        const key = storeKeys.failedAuth("client:with:colons");
        expect(await store.incr(key, LONG_TTL_MS)).toBe(1);
        expect(await store.ttl(key)).toBeGreaterThan(0);
        const grant = storeKeys.grant("hash/with+symbols=");
        expect(await store.set(grant, "g", { onlyIfAbsent: true, ttlMs: LONG_TTL_MS })).toBe(true);
        expect(await store.getDel(grant)).toBe("g");
      });

      it("treats keys that look like prefixes as distinct", async () => {
        await store.set("tokensmith:x", "prefixed-looking");
        await store.set("x", "plain");
        expect(await store.get("tokensmith:x")).toBe("prefixed-looking");
        expect(await store.get("x")).toBe("plain");
      });
    });

    describe("deleteByPrefix", () => {
      /** What a tenant's data looks like: plain keys with and without TTL, counters and hashes, each with its own hash tag. */
      const tenantKeys = (tenant: string, count: number) =>
        Array.from({ length: count }, (_, i) => `t:${tenant}:grant:{${tenant}:g${i}}`);

      it("deletes every key and hash under the prefix, in batches, and resolves how many it deleted", async () => {
        const doomed = tenantKeys("doomed", 25);
        for (const key of doomed) await store.set(key, "v");
        await store.set("t:doomed:expiring:{doomed:e}", "v", { ttlMs: LONG_TTL_MS });
        await store.incr("t:doomed:failed-auth:{doomed:peer}", LONG_TTL_MS);
        await store.hashSet("t:doomed:admin:{doomed:clients}", "c1", "{}");
        await store.hashSet("t:doomed:admin:{doomed:clients}", "c2", "{}");
        expect(await store.deleteByPrefix("t:doomed:", 4)).toBe(28);
        for (const key of doomed) expect(await store.get(key)).toBeNull();
        expect(await store.get("t:doomed:expiring:{doomed:e}")).toBeNull();
        expect(await store.get("t:doomed:failed-auth:{doomed:peer}")).toBeNull();
        expect(await store.hashEntries("t:doomed:admin:{doomed:clients}")).toEqual(new Map());
        expect(await store.deleteByPrefix("t:doomed:", 4)).toBe(0);
      });

      it("leaves every other key alone: another prefix, a longer name sharing the start, the unprefixed keys, the feed", async () => {
        await store.set("t:doomed:k:{doomed:1}", "v");
        const kept: Array<[string, string]> = [
          ["t:doomed-too:k:{doomed-too:1}", "a tenant whose id starts the same"],
          ["t:other:k:{other:1}", "another tenant"],
          ["grant:{t:doomed:1}", "an unprefixed key naming the prefix in its tag"],
          ["k", "a plain key"],
        ];
        for (const [key, value] of kept) await store.set(key, value);
        await store.hashSet("admin:{tenants}", "doomed", "{}");
        const cursor = await store.feedAppend({ type: "kept" }, { retainMs: LONG_TTL_MS });
        expect(await store.deleteByPrefix("t:doomed:", 100)).toBe(1);
        for (const [key, value] of kept) expect(await store.get(key)).toBe(value);
        expect(await store.hashGet("admin:{tenants}", "doomed")).toBe("{}");
        expect((await store.feedRead(undefined, 10)).entries.map((entry) => entry.cursor)).toEqual([cursor]);
      });

      it("takes the prefix literally: glob characters in it match only themselves", async () => {
        await store.set("t:a*:k:{1}", "star");
        await store.set("t:ab:k:{1}", "plain");
        await store.set("t:a?:k:{1}", "question");
        await store.set("t:[a]:k:{1}", "brackets");
        expect(await store.deleteByPrefix("t:a*:", 10)).toBe(1);
        expect(await store.deleteByPrefix("t:[a]:", 10)).toBe(1);
        expect([await store.get("t:a*:k:{1}"), await store.get("t:ab:k:{1}"), await store.get("t:a?:k:{1}"), await store.get("t:[a]:k:{1}")]).toEqual([
          null,
          "plain",
          "question",
          null,
        ]);
      });

      it("refuses an empty prefix or a batch size below 1", async () => {
        await store.set("k", "v");
        await expect(store.deleteByPrefix("", 10)).rejects.toThrow(/prefix/);
        await expect(store.deleteByPrefix("t:x:", 0)).rejects.toThrow(/batch/);
        expect(await store.get("k")).toBe("v");
      });
    });

    describe("streams (the audit trail's, one per tenant)", () => {
      const keep = { retainMs: LONG_TTL_MS };
      const key = "t:a:audit:{a:audit}";
      const msOf = (cursor: string) => parseFeedCursor(cursor)!.ms;

      it("reads nothing from a stream never written", async () => {
        expect(await store.streamReadBack(key, {}, 10)).toEqual([]);
      });

      it("reads back newest first, byte-exact, at most `count`, and strictly before a cursor", async () => {
        const a = await store.streamAppend(key, { kind: "first", value: "ünïcødé ✓" }, keep);
        const b = await store.streamAppend(key, { kind: "second", empty: "" }, keep);
        const c = await store.streamAppend(key, { kind: "third" }, keep);
        expect(compareFeedCursors(a, b)).toBeLessThan(0);
        expect(await store.streamReadBack(key, {}, 10)).toEqual([
          { cursor: c, fields: { kind: "third" } },
          { cursor: b, fields: { kind: "second", empty: "" } },
          { cursor: a, fields: { kind: "first", value: "ünïcødé ✓" } },
        ]);
        expect((await store.streamReadBack(key, {}, 2)).map((entry) => entry.cursor)).toEqual([c, b]);
        expect((await store.streamReadBack(key, { before: b }, 10)).map((entry) => entry.cursor)).toEqual([a]);
        expect(await store.streamReadBack(key, { before: a }, 10)).toEqual([]);
      });

      it("reads only the entries added from sinceMs to untilMs (both inclusive, whole milliseconds)", async () => {
        const a = await store.streamAppend(key, { n: "a" }, keep);
        await elapse(5);
        const b = await store.streamAppend(key, { n: "b" }, keep);
        await elapse(5);
        const c = await store.streamAppend(key, { n: "c" }, keep);
        const read = async (range: { sinceMs?: number; untilMs?: number; before?: string }) =>
          (await store.streamReadBack(key, range, 10)).map((entry) => entry.fields.n);
        expect(await read({ sinceMs: msOf(b) })).toEqual(["c", "b"]);
        expect(await read({ untilMs: msOf(b) })).toEqual(["b", "a"]);
        expect(await read({ sinceMs: msOf(b), untilMs: msOf(b) })).toEqual(["b"]);
        expect(await read({ untilMs: msOf(c), before: b })).toEqual(["a"]);
        expect(await read({ untilMs: msOf(a), before: c })).toEqual(["a"]);
        expect(await read({ sinceMs: msOf(c) + 1 })).toEqual([]);
      });

      it("an append drops the stream's entries older than its retention; other streams and the feed keep theirs", async () => {
        await store.streamAppend(key, { n: "old" }, { retainMs: SHORT_TTL_MS });
        const other = await store.streamAppend("t:b:audit:{b:audit}", { n: "other" }, { retainMs: SHORT_TTL_MS });
        const feed = await store.feedAppend({ n: "feed" }, { retainMs: LONG_TTL_MS });
        await elapse(PAST_SHORT_TTL_MS);
        const fresh = await store.streamAppend(key, { n: "fresh" }, { retainMs: SHORT_TTL_MS });
        expect(await store.streamReadBack(key, {}, 10)).toEqual([{ cursor: fresh, fields: { n: "fresh" } }]);
        expect((await store.streamReadBack("t:b:audit:{b:audit}", {}, 10)).map((entry) => entry.cursor)).toEqual([other]);
        expect((await store.feedRead(undefined, 10)).entries.map((entry) => entry.cursor)).toEqual([feed]);
      });

      it("is removed with its tenant's keys by deleteByPrefix", async () => {
        await store.streamAppend(key, { n: "1" }, keep);
        await store.streamAppend("t:b:audit:{b:audit}", { n: "kept" }, keep);
        expect(await store.deleteByPrefix("t:a:", 10)).toBe(1);
        expect(await store.streamReadBack(key, {}, 10)).toEqual([]);
        expect(await store.streamReadBack("t:b:audit:{b:audit}", {}, 10)).toHaveLength(1);
      });

      it.each(["", "abc", "(1-0"])("refuses the malformed cursor %j with a TypeError", async (cursor) => {
        await expect(store.streamReadBack(key, { before: cursor }, 10)).rejects.toBeInstanceOf(TypeError);
      });
    });

    describe("change feed", () => {
      const keep = { retainMs: LONG_TTL_MS };

      it("is empty at first: no entries, no oldest cursor", async () => {
        expect(await store.feedRead(undefined, 10)).toEqual({ entries: [], oldest: undefined });
      });

      it("appends entries in order and reads them back oldest first, byte-exact", async () => {
        const a = await store.feedAppend({ type: "first", value: "ünïcødé ✓" }, keep);
        const b = await store.feedAppend({ type: "second", empty: "" }, keep);
        expect(parseFeedCursor(a)).toBeDefined();
        expect(compareFeedCursors(a, b)).toBeLessThan(0);
        expect(await store.feedRead(undefined, 10)).toEqual({
          entries: [
            { cursor: a, fields: { type: "first", value: "ünïcødé ✓" } },
            { cursor: b, fields: { type: "second", empty: "" } },
          ],
          oldest: a,
        });
      });

      it("reads strictly after a cursor, at most `count` entries", async () => {
        const cursors: string[] = [];
        for (let i = 0; i < 5; i++) cursors.push(await store.feedAppend({ n: String(i) }, keep));
        const page = await store.feedRead(cursors[1], 2);
        expect(page.entries.map((entry) => entry.fields.n)).toEqual(["2", "3"]);
        expect(page.oldest).toBe(cursors[0]);
        expect((await store.feedRead(cursors[4], 10)).entries).toEqual([]);
        expect((await store.feedRead(cursors[3], 0)).entries).toEqual([]);
      });

      it("gives 50 concurrent appends distinct cursors, read back in cursor order", async () => {
        const cursors = await Promise.all(Array.from({ length: 50 }, (_, i) => store.feedAppend({ n: String(i) }, keep)));
        expect(new Set(cursors).size).toBe(50);
        const read = (await store.feedRead(undefined, 100)).entries.map((entry) => entry.cursor);
        expect(read).toEqual([...cursors].sort(compareFeedCursors));
      });

      it("an append drops the entries older than its retention, and the oldest cursor moves past them", async () => {
        const old = await store.feedAppend({ n: "old" }, { retainMs: SHORT_TTL_MS });
        await elapse(PAST_SHORT_TTL_MS);
        expect((await store.feedRead(undefined, 10)).entries.map((entry) => entry.cursor)).toEqual([old]);
        const fresh = await store.feedAppend({ n: "fresh" }, { retainMs: SHORT_TTL_MS });
        const page = await store.feedRead(undefined, 10);
        expect(page).toEqual({ entries: [{ cursor: fresh, fields: { n: "fresh" } }], oldest: fresh });
        // What a reader still at `old` sees: its cursor is older than any held, so it may have missed entries.
        expect(compareFeedCursors(old, page.oldest!)).toBeLessThan(0);
        expect((await store.feedRead(old, 10)).entries.map((entry) => entry.cursor)).toEqual([fresh]);
      });

      it("names its newest cursor, none while empty, and a reader after it reads nothing", async () => {
        expect(await store.feedLast()).toBeUndefined();
        await store.feedAppend({ n: "1" }, keep);
        const second = await store.feedAppend({ n: "2" }, keep);
        expect(await store.feedLast()).toBe(second);
        expect((await store.feedRead(second, 10)).entries).toEqual([]);
        const third = await store.feedAppend({ n: "3" }, keep);
        expect((await store.feedRead(second, 10)).entries.map((entry) => entry.cursor)).toEqual([third]);
      });

      it("keeps entries younger than the retention", async () => {
        const first = await store.feedAppend({ n: "1" }, keep);
        await elapse(PAST_SHORT_TTL_MS);
        await store.feedAppend({ n: "2" }, keep);
        expect((await store.feedRead(undefined, 10)).oldest).toBe(first);
      });

      it.each(["", "0", "abc", "1-2-3", "-1-0", "99999999999999999-0", "(1-0"])("refuses the malformed cursor %j with a TypeError", async (cursor) => {
        await expect(store.feedRead(cursor, 10)).rejects.toBeInstanceOf(TypeError);
      });
    });

    it("ping resolves", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
