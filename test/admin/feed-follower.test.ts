import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import { storeKeys } from "../../src/store/store.js";
import { redisBackend } from "../support/backends.js";
import { ADMIN_SCOPE, apiKeyAuthorization, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Issue 18, item 2: every instance follows the change feed and drops what it
 * cached at once. The instances cache clients and API keys for a minute on a
 * frozen clock, so only the feed can explain B noticing a change made on A.
 * (RotateClientSecret's overlap_seconds 0 means the configured overlap, set
 * to 0 here.)
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect"]);

describe("two instances on one Redis follow the change feed", () => {
  const backend = redisBackend();
  let a: AdminTestServer;
  let b: AdminTestServer;
  let keyPrefix: string;
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);

  beforeAll(async () => {
    await backend.start();
    const shared: Partial<ConfigInput> = { ...backend.serverOptions().config, issuer: "http://tokensmith.test" };
    keyPrefix = (shared.store as { keyPrefix: string }).keyPrefix;
    const options = { admin, clients: [resourceServer], sharedConfig: shared, clock, config: { clientCacheSeconds: 60, secretOverlapSeconds: 0 } };
    a = await startAdminServer(backend, options);
    b = await startAdminServer(backend, options);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend.stop();
  });

  /**
   * Runs `change` on A, then waits until B's follower has applied the feed
   * entry A wrote, and logs how long that took after A's acknowledgement.
   */
  async function acknowledgedOnA(label: string, change: () => Promise<unknown>): Promise<void> {
    await change();
    const acknowledged = performance.now();
    const cursor = await a.server.domain.feed.end();
    expect(cursor).toBeDefined();
    await b.server.domain.follower.waitFor(cursor!);
    console.log(`${label}: applied by B ${(performance.now() - acknowledged).toFixed(1)} ms after A acknowledged it`);
  }

  const clientOnB = (id: string, secret: string) => b.tokens.issueClientToken({}, { headers: basic(id, secret) });

  it("DeleteClient on A: B refuses the client's Basic header on its next request", async () => {
    const { clientSecret } = await a.admin.createClient({ id: "follow-delete" });
    // Twice: the second is answered from B's cache and its remembered header.
    await clientOnB("follow-delete", clientSecret);
    await clientOnB("follow-delete", clientSecret);
    await acknowledgedOnA("DeleteClient", () => a.admin.deleteClient({ id: "follow-delete" }));
    await expectRpcError(clientOnB("follow-delete", clientSecret), Code.Unauthenticated, "invalid_client");
  });

  it("RotateClientSecret with no overlap on A: B refuses the old secret and takes the new one", async () => {
    const { clientSecret: oldSecret } = await a.admin.createClient({ id: "follow-rotate" });
    await clientOnB("follow-rotate", oldSecret);
    await clientOnB("follow-rotate", oldSecret);
    let newSecret = "";
    await acknowledgedOnA("RotateClientSecret", async () => {
      newSecret = (await a.admin.rotateClientSecret({ id: "follow-rotate", overlapSeconds: 0n })).clientSecret;
    });
    await expectRpcError(clientOnB("follow-rotate", oldSecret), Code.Unauthenticated, "invalid_client");
    await clientOnB("follow-rotate", newSecret);
  });

  it("DeleteApiKey on A: B refuses the key on its next request", async () => {
    const { key } = await a.admin.createApiKey({ name: "follow-key", scopes: ["passkey:read"] });
    const grant = () => b.tokens.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuthorization(key) });
    await grant();
    await grant();
    await acknowledgedOnA("DeleteApiKey", () => a.admin.deleteApiKey({ name: "follow-key" }));
    await expectRpcError(grant(), Code.Unauthenticated, "invalid_client");
  });

  it("a token revoked on A introspects inactive on B on its next request", async () => {
    const { clientSecret } = await a.admin.createClient({ id: "follow-revoke" });
    const { accessToken } = await clientOnB("follow-revoke", clientSecret);
    const introspectOnB = async () => (await b.tokens.introspect({ token: accessToken }, { headers: basic(resourceServer.id, resourceServer.secret) })).active;
    expect(await introspectOnB()).toBe(true);
    await acknowledgedOnA("Revoke", () => a.tokens.revoke({ token: accessToken }, { headers: basic("follow-revoke", clientSecret) }));
    expect(await introspectOnB()).toBe(false);
  });

  it("a signing key rotated on A is in B's ring once B applied the entry", async () => {
    let kid = "";
    await acknowledgedOnA("RotateSigningKey", async () => {
      kid = (await a.admin.rotateSigningKey({})).key!.kid;
    });
    expect(b.server.domain.keyRing.publicJwks().map((jwk) => jwk.kid)).toContain(kid);
  });

  describe("while the feed is unreachable (its key is not a stream: every read fails)", () => {
    const feedKey = () => `${keyPrefix}${storeKeys.feed()}`;
    const command = (args: string[]) => backend.redis().command(args);

    it("B reads through its caches; once the feed is back B clears them and follows on", async () => {
      const { clientSecret: seenBefore } = await a.admin.createClient({ id: "follow-outage-before" });
      const { clientSecret: seenDuring } = await a.admin.createClient({ id: "follow-outage-during" });
      await clientOnB("follow-outage-before", seenBefore);
      await command(["RENAME", feedKey(), `${feedKey()}:aside`]);
      await command(["SET", feedKey(), "not a stream"]);
      await b.server.domain.follower.whenReachable(false);

      // A change that no feed entry announces: read through, B sees it at once.
      await command(["HDEL", `${keyPrefix}${storeKeys.clients()}`, "follow-outage-before"]);
      await expectRpcError(clientOnB("follow-outage-before", seenBefore), Code.Unauthenticated, "invalid_client");

      // Read through, B caches what it read; a change B is not asked about meanwhile...
      await clientOnB("follow-outage-during", seenDuring);
      await command(["HDEL", `${keyPrefix}${storeKeys.clients()}`, "follow-outage-during"]);
      await command(["RENAME", `${feedKey()}:aside`, feedKey()]);
      await b.server.domain.follower.whenReachable(true);
      // ...is seen once the feed is back, as B dropped everything it cached.
      await expectRpcError(clientOnB("follow-outage-during", seenDuring), Code.Unauthenticated, "invalid_client");

      // And B follows the feed again.
      const { clientSecret } = await a.admin.createClient({ id: "follow-outage-after" });
      await clientOnB("follow-outage-after", clientSecret);
      await clientOnB("follow-outage-after", clientSecret);
      await acknowledgedOnA("DeleteClient after the outage", () => a.admin.deleteClient({ id: "follow-outage-after" }));
      await expectRpcError(clientOnB("follow-outage-after", clientSecret), Code.Unauthenticated, "invalid_client");
    });
  });

  // Last: Redis restarts empty (no AOF), so what B cached of its clients is all that is left of them.
  it("Redis killed: B's follower finds the feed unreachable; Redis back: B drops what it cached", async () => {
    const { clientSecret } = await a.admin.createClient({ id: "follow-killed" });
    await clientOnB("follow-killed", clientSecret);
    await backend.redis().kill();
    await b.server.domain.follower.whenReachable(false);
    await backend.redis().restart();
    await b.server.domain.follower.whenReachable(true);
    await expectRpcError(clientOnB("follow-killed", clientSecret), Code.Unauthenticated, "invalid_client");
  });
});
