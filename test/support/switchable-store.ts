import { MemoryStore } from "../../src/store/memory.js";
import { StoreUnavailableError, type Store } from "../../src/store/store.js";
import { interceptedStore } from "./intercepted-store.js";

export interface SwitchableStore {
  store: Store;
  /** While false, every store call but close() rejects with StoreUnavailableError, as an unreachable Redis would. */
  reachable: boolean;
}

/** A memory store behind a switch. */
export function switchableStore(inner: Store = new MemoryStore()): SwitchableStore {
  const state = { reachable: true } as SwitchableStore;
  state.store = interceptedStore(inner, (_operation, _args, proceed) =>
    state.reachable ? proceed() : Promise.reject(new StoreUnavailableError("store switched off by the test")),
  );
  return state;
}
