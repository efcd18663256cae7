import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import { MemoryStore } from "../../src/store/memory.js";
import { describeStoreContract } from "./store-contract.js";

describeStoreContract("MemoryStore", async () => {
  const clock = new ManualClock();
  return {
    store: new MemoryStore(clock),
    advance: async (ms) => clock.advance(ms),
  };
});

describe("MemoryStore", () => {
  it("sweeps expired entries so dead keys do not accumulate", async () => {
    const clock = new ManualClock();
    const store = new MemoryStore(clock);
    try {
      for (let i = 0; i < 100; i++) await store.set(`short-${i}`, "v", { ttlMs: 1_000 });
      for (let i = 0; i < 10; i++) await store.set(`long-${i}`, "v", { ttlMs: 60_000 });
      await store.set("forever", "v");
      expect(store.size()).toBe(111);

      clock.advance(1_000);
      // Never read again: only the sweep can drop them.
      expect(store.size()).toBe(11);

      clock.advance(59_000);
      expect(store.size()).toBe(1);
      expect(await store.get("forever")).toBe("v");
    } finally {
      await store.close();
    }
  });
});
