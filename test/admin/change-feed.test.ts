import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { FeedEvent } from "../../src/domain/change-feed.js";
import { startKeyMaintenance } from "../../src/keys/key-maintenance.js";
import { storeKeys } from "../../src/store/store.js";
import { withBrokenFeed as brokenFeed } from "../support/broken-feed.js";
import { redisBackend } from "../support/backends.js";
import { ADMIN_SCOPE, ADMIN_TEST_CONFIG, BACKENDS, startAdminServer, useAdminServer, type AdminTestServer } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Issue 18, item 1: every administrative change that ends a credential's
 * power is an entry of the change feed, so that other instances and
 * verifiers can drop what they hold; a change whose entry cannot be written
 * answers Unavailable.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);

/** The events appended while `change` ran. */
async function eventsDuring(t: AdminTestServer, change: () => Promise<unknown>): Promise<FeedEvent[]> {
  const before = await t.server.domain.feed.read(undefined, 100_000);
  await change();
  return (await t.server.domain.feed.read(before.next, 100)).entries.map((entry) => entry.event);
}

const DAY = 86_400_000;

/** Scheduled rotation every day on `t`'s ring and clock, driven by `tick()` only. */
function dailyRotation(t: AdminTestServer): ReturnType<typeof startKeyMaintenance> {
  const { keyRing, store, feed } = t.server.domain;
  return startKeyMaintenance({
    keyRing,
    store,
    feed,
    clock: t.clock,
    logger: pino({ level: "silent" }),
    refreshMs: 3_600_000,
    rotateEveryMs: DAY,
    publishDelayMs: ADMIN_TEST_CONFIG.signingKeys.publishDelaySeconds * 1000,
    retireAfterMs: ADMIN_TEST_CONFIG.maxTokenLifetimeSeconds * 1000,
  });
}

describe.each(BACKENDS)("the change feed of AdminService changes on %s", (_name, makeBackend) => {
  const server = useAdminServer(makeBackend, { admin });
  let t: AdminTestServer;
  beforeEach(() => {
    t = server();
  });

  it.each<[string, (id: string) => Promise<unknown>]>([
    ["UpdateClient", (id) => t.admin.updateClient({ client: { id, scopes: ["b:read"] }, updateMask: { paths: ["scopes"] } })],
    ["RotateClientSecret", (id) => t.admin.rotateClientSecret({ id, overlapSeconds: 0n })],
  ])("%s appends client_changed with the client id", async (rpc, change) => {
    const id = `feed-${rpc.toLowerCase()}`;
    await t.admin.createClient({ id, scopes: ["a:read"] });
    expect(await eventsDuring(t, () => change(id))).toEqual([{ type: "client_changed", clientId: id }]);
  });

  it("DeleteClient appends a cut-off of the client's tokens to the end of the second, then client_changed", async () => {
    await t.admin.createClient({ id: "feed-deleteclient", scopes: ["a:read"] });
    const endOfSecond = (Math.floor(t.clock.now() / 1000) + 1) * 1000;
    expect(await eventsDuring(t, () => t.admin.deleteClient({ id: "feed-deleteclient" }))).toEqual([
      { type: "client_tokens_revoked", clientId: "feed-deleteclient", issuedBeforeMs: endOfSecond },
      { type: "client_changed", clientId: "feed-deleteclient" },
    ]);
  });

  it.each<[string, { exists: boolean }, (name: string) => Promise<unknown>]>([
    ["CreateApiKey", { exists: false }, (name) => t.admin.createApiKey({ name, scopes: ["a:b"] })],
    ["UpdateApiKey", { exists: true }, (name) => t.admin.updateApiKey({ apiKey: { name, scopes: ["c:d"] }, updateMask: { paths: ["scopes"] } })],
    ["DeleteApiKey", { exists: true }, (name) => t.admin.deleteApiKey({ name })],
  ])("%s appends api_key_changed with the key's name", async (rpc, { exists }, change) => {
    const name = `feed-${rpc.toLowerCase()}`;
    if (exists) await t.admin.createApiKey({ name, scopes: ["a:b"] });
    expect(await eventsDuring(t, () => change(name))).toEqual([{ type: "api_key_changed", name }]);
  });

  it("RevokeClientTokens appends client_tokens_revoked: the client, and the instant (ms, exclusive) before which its tokens are revoked", async () => {
    const id = "feed-revoke-tokens";
    await t.admin.createClient({ id, scopes: ["a:read"] });
    let revokeMs = 0;
    const events = await eventsDuring(t, async () => {
      const { revokeTime } = await t.admin.revokeClientTokens({ id });
      revokeMs = Number(revokeTime!.seconds) * 1000 + Math.floor(revokeTime!.nanos / 1e6);
    });
    expect(events).toEqual([{ type: "client_tokens_revoked", clientId: id, issuedBeforeMs: revokeMs + 1 }]);
  });

  it("RotateSigningKey appends signing_keys_changed", async () => {
    expect(await eventsDuring(t, () => t.admin.rotateSigningKey({}))).toEqual([{ type: "signing_keys_changed" }]);
  });

  it("a scheduled rotation appends signing_keys_changed; a pass that does not rotate appends nothing", async () => {
    const maintenance = dailyRotation(t);
    try {
      expect(await eventsDuring(t, () => maintenance.tick())).toEqual([]);
      t.clock.advance(DAY);
      expect(await eventsDuring(t, () => maintenance.tick())).toEqual([{ type: "signing_keys_changed" }]);
    } finally {
      maintenance.stop();
    }
  });

  it("a change refused (an unknown client) appends nothing", async () => {
    expect(
      await eventsDuring(t, () => expectRpcError(t.admin.deleteClient({ id: "no-such-client" }), Code.NotFound, "invalid_request")),
    ).toEqual([]);
  });
});

describe("AdminService when the feed cannot be written (a real Redis refusing the feed's XADD)", () => {
  const backend = redisBackend();
  let t: AdminTestServer;
  let keyPrefix: string;

  beforeAll(async () => {
    await backend.start();
    const config = backend.serverOptions().config;
    t = await startAdminServer(backend, { admin, sharedConfig: config });
    keyPrefix = (config.store as { keyPrefix: string }).keyPrefix;
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  /** Runs `body` while XADD to the feed fails with WRONGTYPE and everything else works. */
  const withBrokenFeed = (body: () => Promise<void>) => brokenFeed(backend.redis(), keyPrefix, body);

  it("DeleteClient answers Unavailable before deleting anything (its cut-off comes first), so a retry completes it", async () => {
    const { clientSecret } = await t.admin.createClient({ id: "broken-feed-delete", scopes: ["a:read"] });
    await withBrokenFeed(async () => {
      await expectRpcError(t.admin.deleteClient({ id: "broken-feed-delete" }), Code.Unavailable, "temporarily_unavailable");
    });
    expect((await t.admin.getClient({ id: "broken-feed-delete" })).client?.id).toBe("broken-feed-delete");
    await t.admin.deleteClient({ id: "broken-feed-delete" });
    await expectRpcError(t.tokens.issueClientToken({}, { headers: basic("broken-feed-delete", clientSecret) }), Code.Unauthenticated, "invalid_client");
  });

  it("RotateClientSecret answers Unavailable: the new secret is not returned, and the caller rotates again", async () => {
    await t.admin.createClient({ id: "broken-feed-rotate", scopes: ["a:read"] });
    await withBrokenFeed(async () => {
      await expectRpcError(t.admin.rotateClientSecret({ id: "broken-feed-rotate", overlapSeconds: 0n }), Code.Unavailable, "temporarily_unavailable");
    });
    const { clientSecret } = await t.admin.rotateClientSecret({ id: "broken-feed-rotate", overlapSeconds: 0n });
    expect((await t.tokens.issueClientToken({}, { headers: basic("broken-feed-rotate", clientSecret) })).accessToken).not.toBe("");
  });

  it("a scheduled rotation whose announcement fails stands, and is announced on the next pass", async () => {
    const maintenance = dailyRotation(t);
    try {
      const { keyRing } = t.server.domain;
      const keys = keyRing.describe().length;
      t.clock.advance(DAY);
      await withBrokenFeed(() => maintenance.tick());
      expect(keyRing.describe()).toHaveLength(keys + 1);
      expect(await eventsDuring(t, () => maintenance.tick())).toEqual([{ type: "signing_keys_changed" }]);
      expect(keyRing.describe()).toHaveLength(keys + 1);
      expect(await eventsDuring(t, () => maintenance.tick())).toEqual([]);
    } finally {
      maintenance.stop();
    }
  });

  it("DeleteApiKey and RotateSigningKey answer Unavailable", async () => {
    await t.admin.createApiKey({ name: "broken-feed-key", scopes: ["a:b"] });
    await withBrokenFeed(async () => {
      await expectRpcError(t.admin.deleteApiKey({ name: "broken-feed-key" }), Code.Unavailable, "temporarily_unavailable");
      await expectRpcError(t.admin.rotateSigningKey({}), Code.Unavailable, "temporarily_unavailable");
    });
    // Deleted all the same.
    await expectRpcError(t.admin.deleteApiKey({ name: "broken-feed-key" }), Code.NotFound, "invalid_request");
  });
});
