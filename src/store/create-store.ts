import type { Clock } from "../domain/clock.js";
import type { StoreConfig } from "../config.js";
import { MemoryStore } from "./memory.js";
import type { Store } from "./store.js";

export async function createStore(config: StoreConfig, clock: Clock): Promise<Store> {
  if (config.type === "memory") return new MemoryStore(clock);
  throw new Error("the redis store is not available in this build yet");
}
