import type { Logger } from "pino";
import type { Clock } from "../domain/clock.js";
import type { StoreConfig } from "../config.js";
import { MemoryStore } from "./memory.js";
import { createRedisStore } from "./redis.js";
import type { Store } from "./store.js";

/** The Store the configuration asks for: embedded memory, or Redis (standalone, Sentinel or Cluster). */
export function createStore(config: StoreConfig, clock: Clock, logger?: Logger): Store {
  if (config.type === "memory") return new MemoryStore(clock);
  const common = {
    keyPrefix: config.keyPrefix,
    commandTimeoutMs: config.commandTimeoutMs,
    onConnectionError: (error: Error) => logger?.warn({ err: { message: error.message } }, "redis connection error"),
  };
  if (config.clusterNodes) return createRedisStore({ ...common, mode: "cluster", nodes: config.clusterNodes, password: config.password });
  if (config.sentinels) {
    return createRedisStore({
      ...common,
      mode: "sentinel",
      sentinels: config.sentinels,
      name: config.sentinelName ?? "mymaster",
      password: config.password,
    });
  }
  return createRedisStore({ ...common, mode: "standalone", url: config.url ?? "redis://127.0.0.1:6379" });
}
