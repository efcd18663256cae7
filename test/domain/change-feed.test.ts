import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChangeFeed, decodeFeedEvent, encodeFeedEvent, type FeedEvent } from "../../src/domain/change-feed.js";
import { ManualClock } from "../../src/domain/clock.js";
import { MemoryStore } from "../../src/store/memory.js";

/** The change feed's events (issue 18, item 1): one encoding for every store, readers that skip what they do not know. */

let clock: ManualClock;
let store: MemoryStore;
beforeEach(() => {
  clock = new ManualClock(1_700_000_000_000);
  store = new MemoryStore(clock);
});
afterEach(async () => {
  await store.close();
});

describe("encodeFeedEvent / decodeFeedEvent", () => {
  it.each<[FeedEvent, Record<string, string>]>([
    [{ type: "access_token_revoked", jti: "j-1", exp: 1_700_000_600 }, { type: "access_token_revoked", jti: "j-1", exp: "1700000600" }],
    [{ type: "client_changed", clientId: "orders" }, { type: "client_changed", client_id: "orders" }],
    [{ type: "client_tokens_revoked", clientId: "orders", issuedBeforeMs: 1_700_000_000_123 }, { type: "client_tokens_revoked", client_id: "orders", issued_before_ms: "1700000000123" }],
    [{ type: "api_key_changed", name: "backend" }, { type: "api_key_changed", name: "backend" }],
    [{ type: "signing_keys_changed" }, { type: "signing_keys_changed" }],
    [{ type: "signing_keys_changed", signingKeyIds: ["k-1", "k-2"] }, { type: "signing_keys_changed", signing_key_ids: "k-1 k-2" }],
    // A tenant being deleted: no key published (not the same as naming none, which leaves the ring's own).
    [{ type: "signing_keys_changed", signingKeyIds: [] }, { type: "signing_keys_changed", signing_key_ids: "" }],
    [{ type: "tenant_changed", tenantId: "acme" }, { type: "tenant_changed", tenant_id: "acme" }],
  ])("%j is stored as %j and read back the same", (event, fields) => {
    expect(encodeFeedEvent(event)).toEqual(fields);
    expect(decodeFeedEvent(fields)).toEqual(event);
  });

  it.each<[string, Record<string, string>]>([
    ["an unknown type", { type: "tenant_deleted", tenant: "x" }],
    ["no type", { jti: "j" }],
    ["a revocation without jti", { type: "access_token_revoked", exp: "1" }],
    ["a revocation with a non-numeric exp", { type: "access_token_revoked", jti: "j", exp: "soon" }],
    ["a client change without client_id", { type: "client_changed" }],
    ["a client cut-off with a negative time", { type: "client_tokens_revoked", client_id: "c", issued_before_ms: "-1" }],
    ["an API key change without name", { type: "api_key_changed" }],
    ["a tenant change without tenant_id", { type: "tenant_changed" }],
  ])("%s decodes to undefined", (_case, fields) => {
    expect(decodeFeedEvent(fields)).toBeUndefined();
  });
});

describe("ChangeFeed", () => {
  it("is one feed for the deployment: a tenant's view appends entries tagged with it and reads only its own; the whole view reads all", async () => {
    const whole = new ChangeFeed({ store, retainMs: 60_000 });
    const acme = new ChangeFeed({ store, retainMs: 60_000, tenant: "acme" });
    const main = new ChangeFeed({ store, retainMs: 60_000, tenant: "default" });
    const a = await acme.append({ type: "client_changed", clientId: "shared-id" });
    const d = await main.append({ type: "client_changed", clientId: "shared-id" });
    expect((await store.feedRead(undefined, 10)).entries.map((entry) => entry.fields)).toEqual([
      { type: "client_changed", client_id: "shared-id", tenant: "acme" },
      // The default tenant writes what a deployment without tenants always wrote.
      { type: "client_changed", client_id: "shared-id" },
    ]);
    expect((await acme.read(undefined, 10)).entries.map((entry) => entry.cursor)).toEqual([a]);
    expect((await main.read(undefined, 10)).entries.map((entry) => entry.cursor)).toEqual([d]);
    expect((await whole.read(undefined, 10)).entries.map((entry) => entry.tenant)).toEqual(["acme", "default"]);
    // A view passes over others' entries: its next cursor moves on, and a full page says there may be more.
    expect(await acme.read(a, 1)).toEqual({ entries: [], next: d, oldest: a, more: true });
    expect(await acme.read(d, 1)).toEqual({ entries: [], next: d, oldest: a, more: false });
  });

  it("read skips entries it cannot decode, and its next cursor passes them", async () => {
    const feed = new ChangeFeed({ store, retainMs: 60_000 });
    const first = await feed.append({ type: "client_changed", clientId: "a" });
    const unknown = await store.feedAppend({ type: "from_a_newer_version" }, { retainMs: 60_000 });
    expect(await feed.read(first, 10)).toEqual({ entries: [], next: unknown, oldest: first, more: false });
    const last = await feed.append({ type: "client_tokens_revoked", clientId: "a", issuedBeforeMs: 1_700_000_000_123 });
    expect(await feed.read(undefined, 10)).toEqual({
      entries: [
        { cursor: first, tenant: "default", event: { type: "client_changed", clientId: "a" } },
        { cursor: last, tenant: "default", event: { type: "client_tokens_revoked", clientId: "a", issuedBeforeMs: 1_700_000_000_123 } },
      ],
      next: last,
      oldest: first,
      more: false,
    });
    expect((await feed.read(last, 10)).next).toBe(last);
  });

  it("appends with its retention: entries older than the longest token lifetime leave", async () => {
    const feed = new ChangeFeed({ store, retainMs: 60_000 });
    await feed.append({ type: "signing_keys_changed" });
    clock.advance(60_001);
    const kept = await feed.append({ type: "api_key_changed", name: "k" });
    expect((await feed.read(undefined, 10)).oldest).toBe(kept);
  });
});

describe("ChangeFeed.holds", () => {
  const feed = () => new ChangeFeed({ store, retainMs: 600_000 });
  it("is true only for an entry the feed still has: not a neighbour, an older cursor or 0-0", async () => {
    const cursor = await feed().append({ type: "signing_keys_changed" });
    expect(await feed().holds(cursor)).toBe(true);
    const [ms, seq] = cursor.split("-").map(Number);
    expect(await feed().holds(`${ms}-${seq! + 1}`)).toBe(false);
    expect(await feed().holds(`${ms! - 1}-0`)).toBe(false);
    expect(await feed().holds("0-0")).toBe(false);
  });
});
