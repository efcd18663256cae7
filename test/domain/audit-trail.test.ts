import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AuditTrail, type AuditRecord } from "../../src/domain/audit-trail.js";
import { ManualClock } from "../../src/domain/clock.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { MemoryStore } from "../../src/store/memory.js";
import { createRedisStore } from "../../src/store/redis.js";
import type { Store } from "../../src/store/store.js";
import { TenantStore } from "../../src/store/tenant-store.js";
import { capturedLog } from "../support/captured-log.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";

/** Issue 21 item 3: a tenant's audit trail, in the store (a stream per tenant) and in the log, on every store. */

const DAY_MS = 86_400_000;
const actor = { clientId: "ops-admin", tenant: "default" };
const created = (target: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({ kind: "client.created", actor, target, peer: "10.0.0.7", requestId: "req-1", ...extra });

interface Subject {
  store: Store;
  /** Moves time on: the store's own clock for memory, real waiting for Redis. */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

const subjects: Array<[string, () => Promise<Subject>]> = [
  [
    "memory",
    async () => {
      const clock = new ManualClock(1_800_000_000_000);
      const store = new MemoryStore(clock);
      return { store, advance: async (ms) => clock.advance(ms), close: () => store.close() };
    },
  ],
  [
    "redis",
    async () => {
      const store = createRedisStore({ mode: "standalone", url: redis.url, keyPrefix: `a${Math.random().toString(36).slice(2, 8)}:` });
      await store.waitUntilReady();
      return { store, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), close: () => store.close() };
    },
  ],
];

describe.each(subjects)("AuditTrail on the %s store", (_name, make) => {
  let subject: Subject;
  const trailOf = (tenant: string, options: { retainMs?: number; logger?: ReturnType<typeof capturedLog>["logger"] } = {}) =>
    new AuditTrail({
      store: tenant === "default" ? subject.store : new TenantStore(subject.store, tenant),
      tenant,
      retainMs: options.retainMs ?? 90 * DAY_MS,
      logger: options.logger ?? capturedLog().logger,
    });
  afterEach(async () => {
    await subject?.close();
  });

  it("records an event in the store and as a log line with the same fields, and lists it back", async () => {
    subject = await make();
    const log = capturedLog();
    const trail = trailOf("acme", { logger: log.logger });
    const recorded = await trail.record(created("orders", { actor: { clientId: "root", tenant: "default" }, details: { scopes: "orders:read" } }));
    const page = await trail.list({ pageSize: 10, pageToken: "" });
    expect(page).toEqual({ events: [recorded], nextPageToken: "" });
    expect(recorded).toMatchObject({
      kind: "client.created",
      tenant: "acme",
      actorClientId: "root",
      actorTenant: "default",
      target: "orders",
      peer: "10.0.0.7",
      requestId: "req-1",
      details: { scopes: "orders:read" },
    });
    expect(log.matching(/^audit event$/)).toEqual([
      expect.objectContaining({
        reqId: "req-1",
        audit: { kind: "client.created", tenant: "acme", actorClientId: "root", actorTenant: "default", target: "orders", peer: "10.0.0.7", details: { scopes: "orders:read" } },
      }),
    ]);
  });

  it("lists newest first, a page at a time, with a token for the next page and none after the last", async () => {
    subject = await make();
    const trail = trailOf("default");
    for (let i = 0; i < 5; i++) await trail.record(created(`c${i}`));
    const first = await trail.list({ pageSize: 2, pageToken: "" });
    expect(first.events.map((event) => event.target)).toEqual(["c4", "c3"]);
    const second = await trail.list({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.events.map((event) => event.target)).toEqual(["c2", "c1"]);
    const last = await trail.list({ pageSize: 2, pageToken: second.nextPageToken });
    expect(last).toEqual({ events: [expect.objectContaining({ target: "c0" })], nextPageToken: "" });
  });

  it("filters by actor, target, kind and time range, and pages through the filtered events", async () => {
    subject = await make();
    const trail = trailOf("default");
    const a = await trail.record(created("orders"));
    await subject.advance(10);
    const b = await trail.record({ kind: "client.deleted", actor: { clientId: "other-admin", tenant: "default" }, target: "orders" });
    await subject.advance(10);
    await trail.record({ kind: "api_key.created", actor, target: "backend" });
    await trail.record(created("billing"));
    const targets = async (query: Parameters<AuditTrail["list"]>[0]) => (await trail.list(query)).events.map((event) => `${event.kind} ${event.target}`);
    expect(await targets({ pageSize: 10, pageToken: "", actor: "other-admin" })).toEqual(["client.deleted orders"]);
    expect(await targets({ pageSize: 10, pageToken: "", target: "orders" })).toEqual(["client.deleted orders", "client.created orders"]);
    expect(await targets({ pageSize: 10, pageToken: "", kind: "client.created" })).toEqual(["client.created billing", "client.created orders"]);
    expect(await targets({ pageSize: 10, pageToken: "", untilMs: b.time })).toEqual(["client.deleted orders", "client.created orders"]);
    expect(await targets({ pageSize: 10, pageToken: "", sinceMs: b.time, untilMs: b.time })).toEqual(["client.deleted orders"]);
    expect(await targets({ pageSize: 10, pageToken: "", sinceMs: a.time, untilMs: a.time, kind: "client.deleted" })).toEqual([]);
    const page = await trail.list({ pageSize: 1, pageToken: "", actor: actor.clientId });
    expect(page.events.map((event) => event.target)).toEqual(["billing"]);
    expect(await targets({ pageSize: 1, pageToken: page.nextPageToken, actor: actor.clientId })).toEqual(["api_key.created backend"]);
  });

  it.each<[string, Partial<Parameters<AuditTrail["list"]>[0]>, RegExp]>([
    ["a page token that is no cursor", { pageToken: "bm90LWEtY3Vyc29y" }, /page_token is malformed/],
    ["a page token that is not base64url", { pageToken: "!!" }, /page_token is malformed/],
    ["a negative page size", { pageSize: -1 }, /page_size must not be negative/],
    ["an unknown kind", { kind: "client.exploded" }, /kind must be one of client.created/],
    ["an end before the start", { sinceMs: 2_000, untilMs: 1_000 }, /end_time is before start_time/],
  ])("refuses %s with InvalidArgument", async (_case, query, message) => {
    subject = await make();
    await expect(trailOf("default").list({ pageSize: 10, pageToken: "", ...query })).rejects.toMatchObject({ kind: "invalid_argument", description: expect.stringMatching(message) });
  });

  it("keeps each tenant's events apart", async () => {
    subject = await make();
    await trailOf("acme").record(created("acme-client"));
    await trailOf("default").record(created("default-client"));
    expect((await trailOf("globex").list({ pageSize: 10, pageToken: "" })).events).toEqual([]);
    expect((await trailOf("acme").list({ pageSize: 10, pageToken: "" })).events.map((event) => event.target)).toEqual(["acme-client"]);
    expect((await trailOf("default").list({ pageSize: 10, pageToken: "" })).events.map((event) => event.target)).toEqual(["default-client"]);
  });

  it("drops the events older than the retention when it writes", async () => {
    subject = await make();
    const trail = trailOf("default", { retainMs: 300 });
    await trail.record(created("old"));
    await subject.advance(400);
    await trail.record(created("new"));
    expect((await trail.list({ pageSize: 10, pageToken: "" })).events.map((event) => event.target)).toEqual(["new"]);
  });

  it("never writes a detail that looks like a secret, an API key or a stored hash", async () => {
    subject = await make();
    const log = capturedLog();
    const trail = trailOf("default", { logger: log.logger });
    const secret = generateSecret("client_secret");
    const key = generateSecret("api_key");
    const event = await trail.record(created("leaky", { details: { note: `a ${secret} b`, key, hash: hashSecret(secret), scopes: "a b" } }));
    expect(event.details).toEqual({ note: "[redacted]", key: "[redacted]", hash: "[redacted]", scopes: "a b" });
    const everything = JSON.stringify([await subject.store.streamReadBack("audit:{audit}", {}, 10), log.lines]);
    for (const leaked of [secret, key, hashSecret(secret)]) expect(everything).not.toContain(leaked);
  });

  it("never writes a target that holds a secret, nor a secret run into other text", async () => {
    subject = await make();
    const log = capturedLog();
    const trail = trailOf("default", { logger: log.logger });
    const grant = generateSecret("grant");
    const secret = generateSecret("client_secret");
    const event = await trail.record(created(grant, { details: { note: `copy:${secret}.` } }));
    expect(event).toMatchObject({ target: "[redacted]", details: { note: "[redacted]" } });
    const everything = JSON.stringify([await subject.store.streamReadBack("audit:{audit}", {}, 10), log.lines]);
    for (const leaked of [grant, secret]) expect(everything).not.toContain(leaked);
  });
});
