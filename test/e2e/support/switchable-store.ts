import { MemoryStore } from "../../../src/store/memory.js";
import { StoreUnavailableError, type Store } from "../../../src/store/store.js";

export interface SwitchableStore {
  store: Store;
  /** While false, every store call rejects with StoreUnavailableError, as an unreachable Redis would. */
  reachable: boolean;
}

/** The memory store behind a switch (a Proxy, so it follows the Store interface as it grows). */
export function switchableStore(): SwitchableStore {
  const inner = new MemoryStore();
  const state = { reachable: true } as SwitchableStore;
  state.store = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "close") return typeof value === "function" ? value.bind(target) : value;
      return (...args: unknown[]) =>
        state.reachable ? (value as (...a: unknown[]) => unknown).apply(target, args) : Promise.reject(new StoreUnavailableError("switched off by the test"));
    },
  }) as Store;
  return state;
}
