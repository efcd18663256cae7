import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChangeFeed } from "../../src/domain/change-feed.js";
import { ClientTokenCutoffs } from "../../src/domain/client-token-cutoffs.js";
import { ManualClock } from "../../src/domain/clock.js";
import { RevocationList } from "../../src/domain/revocation-list.js";
import { NamedAccessTokens, type NamedAccessToken } from "../../src/domain/named-access-tokens.js";
import { MemoryStore } from "../../src/store/memory.js";
import { createRedisStore } from "../../src/store/redis.js";
import type { Store } from "../../src/store/store.js";
import { storeKeys } from "../../src/store/store.js";
import { callHolder, interceptedStore } from "../support/intercepted-store.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";

/**
 * The records of named access tokens: bounded by the live tokens (expired
 * ones pruned on every full read) and by a cap per tenant, on the memory
 * store and on a real redis-server.
 */

const record = (id: string, fields: Partial<NamedAccessToken> & { expiresAt: number }): NamedAccessToken => ({
  id,
  name: id,
  clientId: "client",
  scopes: [],
  audiences: ["https://issuer"],
  createdAt: 0,
  createdBy: "admin",
  ...fields,
});

/** The records over `store`, with the revocation list and the client cut-offs they are judged by. */
function namedTokens(store: Store, clock: ManualClock, maxLive?: number) {
  const revocations = new RevocationList({ store, clock, feed: new ChangeFeed({ store, retainMs: 600_000 }) });
  const cutoffs = new ClientTokenCutoffs({ store, clock });
  return { tokens: new NamedAccessTokens({ store, clock, revocations, cutoffs, ...(maxLive !== undefined ? { maxLive } : {}) }), revocations, cutoffs };
}

const STORES: Array<[name: string, open: (clock: ManualClock, redis: () => RedisServer) => Promise<Store>]> = [
  ["memory", async (clock) => new MemoryStore(clock)],
  [
    "redis",
    async (_clock, redis) => {
      const store = createRedisStore({ mode: "standalone", url: redis().url, keyPrefix: `n${Math.random().toString(36).slice(2, 8)}:` });
      await store.waitUntilReady();
      return store;
    },
  ],
];

describe.each(STORES)("NamedAccessTokens on %s", (_name, open) => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("refuses a record past the cap of live tokens, and takes one again once a token has expired", async () => {
    const clock = new ManualClock(1_000_000);
    const store = await open(clock, () => redis);
    try {
      const { tokens } = namedTokens(store, clock, 2);
      expect(await tokens.add(record("a", { expiresAt: clock.now() + 10_000 }))).toBe("added");
      expect(await tokens.add(record("b", { expiresAt: clock.now() + 20_000 }))).toBe("added");
      expect(await tokens.add(record("c", { expiresAt: clock.now() + 20_000 }))).toBe("full");
      expect(await tokens.add(record("a", { name: "b", expiresAt: clock.now() + 20_000 }))).toBe("full");
      clock.advance(10_000);
      expect(await tokens.add(record("c", { expiresAt: clock.now() + 20_000 }))).toBe("added");
      expect((await tokens.live()).map((live) => live.id).sort()).toEqual(["b", "c"]);
      // The expired record and its name are gone from the store, not only from the answer.
      expect([...(await store.hashEntries(storeKeys.accessTokens())).keys()].sort()).toEqual(["b", "c"]);
      expect([...(await store.hashEntries(storeKeys.accessTokenNames())).values()].sort()).toEqual(["b", "c"]);
    } finally {
      await store.close();
    }
  });

  it("a record whose jti is revoked, or whose client's tokens are cut off at or after its issue, is pruned", async () => {
    const clock = new ManualClock(1_000_000);
    const store = await open(clock, () => redis);
    try {
      const { tokens, revocations, cutoffs } = namedTokens(store, clock);
      await tokens.add(record("revoked", { createdAt: clock.now(), expiresAt: clock.now() + 60_000 }));
      await tokens.add(record("cut", { clientId: "leaky", createdAt: clock.now(), expiresAt: clock.now() + 60_000 }));
      await tokens.add(record("later", { clientId: "leaky", createdAt: clock.now() + 1, expiresAt: clock.now() + 60_000 }));
      await revocations.revoke("revoked", (clock.now() + 60_000) / 1000);
      await cutoffs.revokeAll("leaky", 600_000, clock.now());
      expect((await tokens.live()).map((live) => live.id)).toEqual(["later"]);
      expect([...(await store.hashEntries(storeKeys.accessTokens())).keys()]).toEqual(["later"]);
    } finally {
      await store.close();
    }
  });

  it("a name taken by a live token of the client is refused; the same name for another client is not", async () => {
    const clock = new ManualClock(1_000_000);
    const store = await open(clock, () => redis);
    try {
      const { tokens } = namedTokens(store, clock);
      expect(await tokens.add(record("x", { name: "deploy", expiresAt: clock.now() + 10_000 }))).toBe("added");
      expect(await tokens.add(record("y", { name: "deploy", expiresAt: clock.now() + 10_000 }))).toBe("name_taken");
      expect(await tokens.add(record("z", { name: "deploy", clientId: "other", expiresAt: clock.now() + 10_000 }))).toBe("added");
      expect(await tokens.find("y")).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it("freeing an ended token's name never frees it from the token that took it over meanwhile", async () => {
    const clock = new ManualClock(1_000_000);
    const inner = await open(clock, () => redis);
    // Holds the removal's release of the name, between its read of who holds the name and its delete.
    const holder = callHolder((operation, args) => operation.startsWith("hashDelete") || (operation.startsWith("hashCompareAnd") && args.length === 3)
      ? args[0] === storeKeys.accessTokenNames()
      : false);
    const store = interceptedStore(inner, holder.intercept);
    try {
      const { tokens } = namedTokens(store, clock);
      const ended = record("ended", { name: "nightly", expiresAt: clock.now() + 10_000 });
      expect(await tokens.add(ended)).toBe("added");
      const held = holder.holdNext();
      const removal = tokens.remove(ended);
      await held.reached;
      // Meanwhile a create finds the name's claim stale (its record is gone) and takes it over.
      expect(await tokens.add(record("taker", { name: "nightly", expiresAt: clock.now() + 10_000 }))).toBe("added");
      held.release();
      await removal;
      expect(await tokens.add(record("third", { name: "nightly", expiresAt: clock.now() + 10_000 }))).toBe("name_taken");
      expect((await tokens.live()).map((token) => token.id)).toEqual(["taker"]);
    } finally {
      await inner.close();
    }
  });

  it("of two concurrent creates of one name, one is added: a claim whose record is not written yet is not taken over as stale", async () => {
    const clock = new ManualClock(1_000_000);
    const inner = await open(clock, () => redis);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = false;
    // The first create's record write waits until the second create has finished.
    const store = interceptedStore(inner, async (operation, args, proceed) => {
      if (operation === "hashSet" && args[0] === storeKeys.accessTokens() && args[1] === "first") {
        holding = true;
        await held;
      }
      return proceed();
    });
    try {
      const { tokens } = namedTokens(store, clock);
      const first = tokens.add(record("first", { name: "nightly", expiresAt: clock.now() + 10_000 }));
      // Until the first create is writing its record.
      for (let turn = 0; turn < 1_000 && !holding; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const second = await tokens.add(record("second", { name: "nightly", expiresAt: clock.now() + 10_000 }));
      release();
      const results = [await first, second];
      expect(results.filter((result) => result === "added"), results.join(", ")).toHaveLength(1);
      expect((await tokens.live()).map((token) => token.name)).toEqual(["nightly"]);
    } finally {
      release();
      await inner.close();
    }
  });
});
