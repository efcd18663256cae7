import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/store.js";
import { tracedStore } from "../../src/store/traced-store.js";

/**
 * The store as tracing sees it (src/store/traced-store.ts): each operation a
 * child span of the request being served, named by the operation alone — never
 * a key or a value, which hold token hashes, jtis and secrets' hashes.
 */

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
// The AsyncLocalStorage context manager, as the server's SDK set-up registers it.
provider.register();
const tracer = provider.getTracer("test");
afterAll(() => provider.shutdown());

const SECRET_KEY = "grant:{tok_secret-looking-hash}";
const SECRET_VALUE = "value-that-must-not-be-exported";

/** One call of every Store operation but close(), with keys and values a trace must not show. */
const calls: Array<[string, (store: Store) => Promise<unknown>]> = [
  ["get", (store) => store.get(SECRET_KEY)],
  ["set", (store) => store.set(SECRET_KEY, SECRET_VALUE, { ttlMs: 60_000 })],
  ["getDel", (store) => store.getDel(SECRET_KEY)],
  ["del", (store) => store.del(SECRET_KEY)],
  ["incr", (store) => store.incr(SECRET_KEY, 60_000)],
  ["ttl", (store) => store.ttl(SECRET_KEY)],
  ["hashGet", (store) => store.hashGet(SECRET_KEY, SECRET_VALUE)],
  ["hashSet", (store) => store.hashSet(SECRET_KEY, SECRET_VALUE, SECRET_VALUE)],
  ["hashCompareAndSet", (store) => store.hashCompareAndSet(SECRET_KEY, SECRET_VALUE, SECRET_VALUE, SECRET_VALUE)],
  ["hashCompareAndDelete", (store) => store.hashCompareAndDelete(SECRET_KEY, SECRET_VALUE, SECRET_VALUE)],
  ["hashDelete", (store) => store.hashDelete(SECRET_KEY, SECRET_VALUE)],
  ["hashEntries", (store) => store.hashEntries(SECRET_KEY)],
  ["feedAppend", (store) => store.feedAppend({ secret: SECRET_VALUE }, { retainMs: 60_000 })],
  ["feedRead", (store) => store.feedRead(undefined, 10)],
  ["feedLast", (store) => store.feedLast()],
  ["deleteByPrefix", (store) => store.deleteByPrefix("t:secret-tenant:", 10)],
  ["ping", (store) => store.ping()],
];

/** Runs `body` inside a recording request span, as the server runs a request. */
async function inRequest<T>(body: () => Promise<T>): Promise<T> {
  const request = tracer.startSpan("request");
  try {
    return await context.with(trace.setSpan(context.active(), request), body);
  } finally {
    request.end();
  }
}

describe("tracedStore", () => {
  let store: Store;
  beforeEach(() => {
    exporter.reset();
    store = tracedStore(new MemoryStore(new ManualClock(1_000_000)), tracer, "memory");
  });

  it.each(calls)("%s: one child span of the request, with the operation's name and nothing it was given", async (operation, call) => {
    const untraced = await call(new MemoryStore(new ManualClock(1_000_000)));
    expect(await inRequest(() => call(store))).toEqual(untraced);
    const [span, request] = exporter.getFinishedSpans();
    expect(request?.name).toBe("request");
    expect(span?.name).toBe(`memory ${operation}`);
    expect(span?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    expect(span?.attributes).toEqual({ "db.system": "memory", "db.operation.name": operation });
    expect(span?.events).toEqual([]);
    const exported = JSON.stringify(exporter.getFinishedSpans().map(({ name, attributes, events, status }) => ({ name, attributes, events, status })));
    expect(exported).not.toMatch(/secret/);
  });

  it("makes no span outside a request, nor under one that has ended (a timer set during a request keeps its context)", async () => {
    await store.set("a", "1");
    const ended = tracer.startSpan("ended request");
    ended.end();
    await context.with(trace.setSpan(context.active(), ended), () => store.get("a"));
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(["ended request"]);
    expect(await store.get("a")).toBe("1");
  });

  it("a failed operation rejects as before; its span is an error named by the error's class, without its message", async () => {
    const failure = await inRequest(() => store.deleteByPrefix("", 10)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RangeError);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: "RangeError" });
    expect(span?.attributes).toEqual({ "db.system": "memory", "db.operation.name": "deleteByPrefix", "error.type": "RangeError" });
    expect(JSON.stringify(span?.events)).not.toContain((failure as Error).message);
  });

  it("close() closes the store and makes no span", async () => {
    await inRequest(() => store.close());
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(["request"]);
  });
});
