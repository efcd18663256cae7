import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import { generateSecret } from "../../src/domain/secret-format.js";
import { startKeyMaintenance } from "../../src/keys/key-maintenance.js";
import { withRotationLock } from "../../src/keys/rotation-lock.js";
import { storeKeys } from "../../src/store/store.js";
import { ADMIN_SCOPE, apiKeyAuthorization, bearer, decodeJwt, startAdminServer, useTwoInstancesOnRedis, type AdminTestServer } from "../support/admin.js";
import { redisBackend } from "../support/backends.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient, transports, type TransportName } from "../support/tokensmith.js";

/**
 * Administration across instances sharing one Redis: what one instance
 * writes, the others read from the store (after their clientCacheSeconds),
 * and the signing key ring is re-read by each instance.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect"]);

describe("two instances on one Redis", () => {
  const instances = useTwoInstancesOnRedis({ admin, clients: [resourceServer], config: { clientCacheSeconds: 0 } });
  let a: AdminTestServer;
  let b: AdminTestServer;
  let clock: ManualClock;
  beforeAll(() => {
    ({ a, b, clock } = instances());
  });

  it("a client created on A authenticates on B; updated on A, B follows; deleted on A, B refuses it", async () => {
    const { clientSecret } = await a.admin.createClient({ id: "shared-client", scopes: ["orders:read"] });
    const onB = (scopes: string[] = []) => b.tokens.issueClientToken({ scopes }, { headers: basic("shared-client", clientSecret) });
    const { accessToken } = await onB();

    await a.admin.updateClient({ client: { id: "shared-client", scopes: ["orders:write"] }, updateMask: { paths: ["scopes"] } });
    expect((await onB()).scopes).toEqual(["orders:write"]);
    expect((await b.admin.getClient({ id: "shared-client" })).client!.scopes).toEqual(["orders:write"]);

    await a.admin.deleteClient({ id: "shared-client" });
    await expectRpcError(onB(), Code.Unauthenticated, "invalid_client");
    const introspectOnB = await b.tokens.introspect({ token: accessToken }, { headers: basic(resourceServer.id, resourceServer.secret) });
    expect(introspectOnB.active).toBe(false);
  });

  it("a secret rotated on A: B accepts the new one at once, and the old one until the overlap ends", async () => {
    const { clientSecret: oldSecret } = await a.admin.createClient({ id: "shared-rotate" });
    const { clientSecret: newSecret } = await a.admin.rotateClientSecret({ id: "shared-rotate", overlapSeconds: 30n });
    const onB = (secret: string) => b.tokens.issueClientToken({}, { headers: basic("shared-rotate", secret) });
    await onB(newSecret);
    await onB(oldSecret);
    clock.advance(30_000);
    await expectRpcError(onB(oldSecret), Code.Unauthenticated, "invalid_client");
    await onB(newSecret);
  });

  it("an API key created on A issues grants on B; deleted on A, B refuses it", async () => {
    const { key } = await a.admin.createApiKey({ name: "shared-key", scopes: ["passkey:read"] });
    const grant = () => b.tokens.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuthorization(key) });
    await grant();
    await a.admin.deleteApiKey({ name: "shared-key" });
    await expectRpcError(grant(), Code.Unauthenticated, "invalid_client");
  });

  it("a signing key rotated on A is picked up by B from the change feed, and signs on both after the delay", async () => {
    const before = b.server.domain.keyRing.publicJwks().map((key) => key.kid);
    const { key } = await a.admin.rotateSigningKey({});
    const newKid = key!.kid;

    // B re-reads its ring once its follower applies A's signing_keys_changed (issue 18).
    await b.server.domain.follower.waitFor((await a.server.domain.feed.end())!);
    expect(b.server.domain.keyRing.publicJwks().map((jwk) => jwk.kid)).toEqual([...before, newKid]);
    expect(b.server.domain.keyRing.publicJwks()).toEqual(a.server.domain.keyRing.publicJwks());

    clock.advance(60_000);
    const issuedOnB = await b.tokens.issueClientToken({}, { headers: basic(resourceServer.id, resourceServer.secret) });
    expect(decodeJwt(issuedOnB.accessToken).header.kid).toBe(newKid);
    // A token B signed with the new key introspects active on A.
    const onA = await a.tokens.introspect({ token: issuedOnB.accessToken }, { headers: basic(resourceServer.id, resourceServer.secret) });
    expect(onA.active).toBe(true);
  });

  /** Issue 17, item 7: RotateSigningKey did not take the lock that scheduled rotation takes, so both could rotate. */
  it("while A rotates its signing key under the rotation lock (as scheduled rotation does), B's RotateSigningKey is refused and rotates nothing", async () => {
    const kids = async () => (await b.admin.listSigningKeys({})).keys.map((key) => key.kid);
    const before = await kids();
    const lock = storeKeys.signingKeyRotationLock();
    expect(await a.server.domain.store.set(lock, "a", { ttlMs: 60_000, onlyIfAbsent: true })).toBe(true);
    const byA = await a.server.domain.keyRing.rotate({ publishDelayMs: 60_000, retireAfterMs: 600_000 });
    await expectRpcError(b.admin.rotateSigningKey({}), Code.FailedPrecondition, "invalid_request", /rotation is in progress/);
    expect(await kids()).toEqual([...before, byA.kid]);
    await a.server.domain.store.del(lock);
    // Once A is done, B rotates.
    const { key } = await b.admin.rotateSigningKey({});
    expect(await kids()).toEqual([...before, byA.kid, key!.kid]);
  });

  it("while B rotates under the rotation lock, A's due scheduled rotation does not rotate, nor after, as B's key is new", async () => {
    const day = 86_400_000;
    const since = clock.now() + day;
    /** The keys created since the schedule fell due (older ones retire as the clock moves on). */
    const kids = async () => (await a.admin.listSigningKeys({})).keys.filter((key) => timestampMs(key.createTime!) >= since).map((key) => key.kid);
    const settings = { publishDelayMs: 60_000, retireAfterMs: 600_000 };
    const scheduledOnA = startKeyMaintenance({ keyRing: a.server.domain.keyRing, store: a.server.domain.store, feed: a.server.domain.feed, clock, logger: pino({ level: "silent" }), refreshMs: 3_600_000, rotateEveryMs: day, ...settings });
    /** A applies every ring change announced so far (its follower reloads the ring): a day then passing at once must not find A a rotation behind. */
    const caughtUp = async () => {
      const end = await a.server.domain.feed.end();
      if (end !== undefined) await a.server.domain.follower.waitFor(end);
    };
    try {
      await caughtUp();
      clock.advance(day);
      const before = await kids();
      expect(before).toEqual([]);
      const byB = await withRotationLock(b.server.domain.store, async () => {
        // A's pass comes while B holds the lock and has not saved its key yet.
        await scheduledOnA.tick();
        return b.server.domain.keyRing.rotate(settings);
      });
      if (!byB.locked) throw new Error("B did not get the rotation lock");
      expect(await kids()).toEqual([...before, byB.value.kid]);
      await scheduledOnA.tick();
      expect(await kids()).toEqual([...before, byB.value.kid]);
      // A day later the schedule rotates on A.
      await caughtUp();
      clock.advance(day);
      await scheduledOnA.tick();
      expect(await kids()).toHaveLength(before.length + 2);
    } finally {
      scheduledOnA.stop();
    }
  });
});

describe("two instances on one Redis with clientCacheSeconds 5", () => {
  const instances = useTwoInstancesOnRedis({ admin, clients: [resourceServer], config: { clientCacheSeconds: 5 } });
  let a: AdminTestServer;
  let b: AdminTestServer;
  let clock: ManualClock;
  beforeAll(() => {
    ({ a, b, clock } = instances());
  });

  it("B sees a client created on A within clientCacheSeconds, even after B looked it up and found nothing", async () => {
    // A probe before creation leaves "no such client" in B's cache.
    const probe = b.tokens.issueClientToken({}, { headers: basic("cached-client", generateSecret("client_secret")) });
    await expectRpcError(probe, Code.Unauthenticated, "invalid_client");
    const { clientSecret } = await a.admin.createClient({ id: "cached-client" });
    const onB = () => b.tokens.issueClientToken({}, { headers: basic("cached-client", clientSecret) });
    await expectRpcError(onB(), Code.Unauthenticated, "invalid_client");
    clock.advance(4_999);
    await expectRpcError(onB(), Code.Unauthenticated, "invalid_client");
    clock.advance(1);
    await onB();
  });

  /**
   * Issue 16, item 3: a deleted (or demoted, or revoked) admin kept its power
   * on the other instance for up to clientCacheSeconds. Each of these calls is
   * made on B right after A acknowledged the change, with B's cache warm.
   */
  describe("what A takes away ends at once on B for AdminService and state-changing Bearer calls", () => {
    /** A store client created on A, with a token issued on B and one call on B that caches the client there. */
    async function warmOnB(id: string, scopes: string[]) {
      const { clientSecret } = await a.admin.createClient({ id, scopes });
      const { accessToken } = await b.tokens.issueClientToken({ scopes }, { headers: basic(id, clientSecret) });
      return { token: accessToken, secret: clientSecret };
    }

    // The unary fast path (gRPC) and connect-node's general path (gRPC-Web) answer alike.
    it.each<TransportName>(["grpc (HTTP/2)", "grpc-web (HTTP/1.1)"])(
      "an admin client deleted on A: its token's next AdminService call on B (%s) is Unauthenticated and creates nothing",
      async (transport) => {
        const onB = createClient(AdminService, transports[transport](b.server.url));
        const id = `rogue-admin-${transport.split(" ")[0]}`;
        const { token } = await warmOnB(id, [ADMIN_SCOPE]);
        await onB.listClients({}, { headers: bearer(token) });
        await a.admin.deleteClient({ id });
        const escalate = onB.createClient({ id: `${id}-successor`, scopes: [ADMIN_SCOPE] }, { headers: bearer(token) });
        await expectRpcError(escalate, Code.Unauthenticated, "invalid_client");
        await expectRpcError(a.admin.getClient({ id: `${id}-successor` }), Code.NotFound, "invalid_request");
      },
    );

    it("an admin client whose scopes A changed to drop tokensmith:admin: B refuses its token at once", async () => {
      const { token } = await warmOnB("demoted-admin", [ADMIN_SCOPE]);
      await b.rawAdmin.listClients({}, { headers: bearer(token) });
      await a.admin.updateClient({ client: { id: "demoted-admin", scopes: ["orders:read"] }, updateMask: { paths: ["scopes"] } });
      await expectRpcError(b.rawAdmin.listClients({}, { headers: bearer(token) }), Code.PermissionDenied, "insufficient_scope", ADMIN_SCOPE);
    });

    it("an admin token revoked on A (RFC 7009): B's AdminService refuses it at once", async () => {
      const { token, secret } = await warmOnB("revoked-admin", [ADMIN_SCOPE]);
      await b.rawAdmin.listClients({}, { headers: bearer(token) });
      await a.tokens.revoke({ token }, { headers: basic("revoked-admin", secret) });
      await expectRpcError(b.rawAdmin.listClients({}, { headers: bearer(token) }), Code.Unauthenticated, "invalid_client");
    });

    it("an admin client's tokens revoked on A (RevokeClientTokens): B refuses the old token at once, and accepts one issued after", async () => {
      const { token, secret } = await warmOnB("leaked-admin", [ADMIN_SCOPE]);
      await b.rawAdmin.listClients({}, { headers: bearer(token) });
      await a.admin.revokeClientTokens({ id: "leaked-admin" });
      await expectRpcError(b.rawAdmin.listClients({}, { headers: bearer(token) }), Code.Unauthenticated, "invalid_client");
      const introspectOnB = await b.tokens.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) });
      expect(introspectOnB.active).toBe(false);
      clock.advance(1);
      const { accessToken } = await b.tokens.issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: basic("leaked-admin", secret) });
      await b.rawAdmin.listClients({}, { headers: bearer(accessToken) });
      expect((await a.tokens.introspect({ token: accessToken }, { headers: basic(resourceServer.id, resourceServer.secret) })).active).toBe(true);
    });

    it("a token:delete client deleted on A: its Bearer Revoke on B is Unauthenticated and revokes nothing", async () => {
      const { token } = await warmOnB("rogue-revoker", ["token:delete"]);
      const victim = (await b.tokens.issueClientToken({}, { headers: basic(resourceServer.id, resourceServer.secret) })).accessToken;
      await b.tokens.revoke({ token: "not-a-token" }, { headers: bearer(token) });
      await a.admin.deleteClient({ id: "rogue-revoker" });
      await expectRpcError(b.tokens.revoke({ token: victim }, { headers: bearer(token) }), Code.Unauthenticated, "invalid_client");
      const onA = await a.tokens.introspect({ token: victim }, { headers: basic(resourceServer.id, resourceServer.secret) });
      expect(onA.active).toBe(true);
    });

    it("an introspecting client deleted on A: its Bearer Introspect with consume on B is Unauthenticated and spends nothing", async () => {
      const { token } = await warmOnB("rogue-consumer", ["token:introspect", "grant:consume"]);
      const { key } = await a.admin.createApiKey({ name: "consumed-key", scopes: ["passkey:read"] });
      const grant = (await b.tokens.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuthorization(key) })).token;
      expect((await b.tokens.introspect({ token: grant }, { headers: bearer(token) })).active).toBe(true);
      await a.admin.deleteClient({ id: "rogue-consumer" });
      await expectRpcError(b.tokens.introspect({ token: grant, consume: true }, { headers: bearer(token) }), Code.Unauthenticated, "invalid_client");
      const onA = await a.tokens.introspect({ token: grant }, { headers: basic(resourceServer.id, resourceServer.secret) });
      expect(onA.active).toBe(true);
    });
  });
});

describe("a client stored while maxTokenLifetimeSeconds was higher (issue 16, item 9)", () => {
  const backend = redisBackend();
  let a: AdminTestServer;
  let b: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    const shared = backend.serverOptions().config;
    a = await startAdminServer(backend, { admin, sharedConfig: shared, config: { maxTokenLifetimeSeconds: 86_400 } });
    b = await startAdminServer(backend, { admin, sharedConfig: shared, config: { maxTokenLifetimeSeconds: 600 } });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend.stop();
  });

  it("gets tokens no longer than the maximum of the instance that signs them", async () => {
    const { clientSecret } = await a.admin.createClient({ id: "day-long", tokenLifetimeSeconds: 86_400n });
    const issued = await b.tokens.issueClientToken({}, { headers: basic("day-long", clientSecret) });
    expect(issued.expiresIn).toBe(600n);
    const { payload } = decodeJwt(issued.accessToken);
    expect(Number(payload.exp) - Number(payload.iat)).toBe(600);
    expect((await a.tokens.issueClientToken({}, { headers: basic("day-long", clientSecret) })).expiresIn).toBe(86_400n);
  });
});
