import type { Tracer } from "@opentelemetry/api";
import { inChildSpan } from "../observability/child-span.js";
import type { Store } from "./store.js";

/** Every Store operation but close(), which is no command. */
const OPERATIONS = [
  "get",
  "set",
  "getDel",
  "del",
  "incr",
  "ttl",
  "hashGet",
  "hashSet",
  "hashCompareAndSet",
  "hashCompareAndDelete",
  "hashDelete",
  "hashEntries",
  "feedAppend",
  "feedRead",
  "feedLast",
  "streamAppend",
  "streamReadBack",
  "deleteByPrefix",
  "ping",
] as const satisfies ReadonlyArray<keyof Store>;
type Operation = (typeof OPERATIONS)[number];
// An operation added to Store and not listed above fails to compile here.
const everyOperation: Exclude<keyof Store, Operation | "close"> extends never ? true : never = true;
void everyOperation;

/**
 * The store, each operation a child span of the request that made it
 * (db.system "redis" or "memory", db.operation.name the Store method).
 * Only the operation's name: keys hold token hashes, jtis and client ids,
 * values hold secrets' hashes and grants. Installed only when tracing is on.
 */
export function tracedStore(store: Store, tracer: Tracer, system: "redis" | "memory"): Store {
  const traced = { close: () => store.close() } as Store;
  for (const operation of OPERATIONS) {
    const attributes = { "db.system": system, "db.operation.name": operation };
    const name = `${system} ${operation}`;
    const call = store[operation] as (...args: unknown[]) => Promise<unknown>;
    (traced as unknown as Record<Operation, (...args: unknown[]) => Promise<unknown>>)[operation] = (...args) =>
      inChildSpan(tracer, name, attributes, () => call.apply(store, args));
  }
  return traced;
}
