import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { ConfigInput } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import { createVerifier, type Verifier } from "../../src/verifier/index.js";
import { ADMIN_SCOPE, bearer, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { redisBackend } from "../support/backends.js";
import { eventually } from "../support/eventually.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Tenant administration across two instances on one Redis (issue 19 items
 * 4-5): what A does to a tenant, B applies once it reads A's tenant_changed
 * from the change feed, even with the tenant loaded and its clients cached;
 * calls that change state on B check the store at once.
 */

const platform = testClient("platform", ["tokensmith:tenants"]);
const admin = testClient("admin", [ADMIN_SCOPE]);

describe("tenants on two instances sharing one Redis", () => {
  const backend = redisBackend();
  let a: AdminTestServer;
  let b: AdminTestServer;
  /** Reads the feed only every 5 s: what it refuses right after a change on A, it refuses because it read the store. */
  let slow: AdminTestServer;
  const verifiers: Verifier[] = [];

  beforeAll(async () => {
    await backend.start();
    const shared: Partial<ConfigInput> = { ...backend.serverOptions().config, issuer: "http://tokensmith.test" };
    // clientCacheSeconds far longer than the test: what B forgets, it forgets because of the feed.
    const options = { admin, clients: [platform], sharedConfig: shared, clock: new ManualClock(Math.floor(Date.now() / 1000) * 1000), config: { clientCacheSeconds: 300, watchHeartbeatSeconds: 0.1 } };
    a = await startAdminServer(backend, options);
    b = await startAdminServer(backend, options);
    slow = await startAdminServer(backend, { ...options, config: { ...options.config, feedPollMs: 5_000 } });
  });
  afterEach(async () => {
    await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()));
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), slow?.close()]);
    await backend.stop();
  });

  const at = (server: AdminTestServer, tenant: string) => createGrpcTransport({ baseUrl: `${server.server.url.replace(/\/$/, "")}/t/${tenant}` });
  const platformHeaders = async () => ({
    headers: bearer((await a.tokens.issueClientToken({ scopes: ["tokensmith:tenants"] }, { headers: basic(platform.id, platform.secret) })).accessToken),
  });

  /** A tenant created on A with an admin, a service client and a reader, all of them used on `b` (so it has the tenant loaded and their records cached). */
  async function tenantInUseOnB(id: string, onB = b) {
    const created = await a.admin.createTenant({ id, adminClientId: `${id}-admin` }, await platformHeaders());
    const adminCredentials = basic(`${id}-admin`, created.adminClientSecret);
    const tokensOnB = createClient(TokenService, at(onB, id));
    const adminToken = (await tokensOnB.issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: adminCredentials })).accessToken;
    const adminOnB = createClient(AdminService, at(onB, id));
    const service = await adminOnB.createClient({ id: "service", scopes: ["orders:read"], audiences: ["orders"] }, { headers: bearer(adminToken) });
    const reader = await adminOnB.createClient({ id: "reader", scopes: ["token:introspect"] }, { headers: bearer(adminToken) });
    const serviceCredentials = basic("service", service.clientSecret);
    const readerCredentials = basic("reader", reader.clientSecret);
    const token = (await tokensOnB.issueClientToken({ audience: ["orders"] }, { headers: serviceCredentials })).accessToken;
    expect((await tokensOnB.introspect({ token }, { headers: readerCredentials })).active).toBe(true);
    await adminOnB.listClients({}, { headers: bearer(adminToken) });
    expect(onB.server.domain.tenants.peek(id)).toBeDefined();
    return { tokensOnB, adminOnB, adminToken, token, serviceCredentials, readerCredentials, readerSecret: reader.clientSecret };
  }

  it("DeleteTenant on A: an instance that has not read the feed yet refuses the tenant's admin at once, as changing state reads the store", async () => {
    const used = await tenantInUseOnB("gone-at-once", slow);
    await a.admin.deleteTenant({ id: "gone-at-once" }, await platformHeaders());
    await expectRpcError(used.adminOnB.createClient({ id: "late", scopes: [ADMIN_SCOPE] }, { headers: bearer(used.adminToken) }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(used.adminOnB.listClients({}, { headers: bearer(used.adminToken) }), Code.Unauthenticated, "invalid_client");
  });

  it("DeleteTenant on A: an instance that has not read the feed yet refuses a platform administrator in the tenant at once too", async () => {
    const used = await tenantInUseOnB("gone-for-platform", slow);
    const headers = await platformHeaders();
    expect((await used.adminOnB.listClients({}, headers)).clients.map((client) => client.id)).toEqual(["gone-for-platform-admin", "reader", "service"]);
    await a.admin.deleteTenant({ id: "gone-for-platform" }, headers);
    await expectRpcError(used.adminOnB.createClient({ id: "late", scopes: [ADMIN_SCOPE] }, headers), Code.Unauthenticated, "invalid_client");
    await expectRpcError(used.adminOnB.listClients({}, headers), Code.Unauthenticated, "invalid_client");
  });

  it("DeleteTenant on A: B refuses the tenant's clients and tokens once it reads the feed; a verifier on B drops its keys", async () => {
    const used = await tenantInUseOnB("gone");
    const verifier = createVerifier({
      baseUrl: `${b.server.url.replace(/\/$/, "")}/t/gone`,
      issuer: "http://tokensmith.test/t/gone",
      audience: "orders",
      clientId: "reader",
      clientSecret: used.readerSecret,
      maxStalenessMs: 2_000,
    });
    verifiers.push(verifier);
    await verifier.ready();
    expect(await verifier.verify(used.token)).toMatchObject({ active: true });

    await a.admin.deleteTenant({ id: "gone" }, await platformHeaders());
    const deleted = performance.now();
    await eventually(
      async () =>
        (await used.tokensOnB.issueClientToken({}, { headers: used.serviceCredentials }).then(() => false, () => true)) &&
        (await used.tokensOnB.introspect({ token: used.token }, { headers: used.readerCredentials }).then(() => false, () => true)),
      10_000,
      5,
    );
    console.info(`B refused the deleted tenant's clients and tokens ${Math.round(performance.now() - deleted)} ms after A's DeleteTenant answered`);
    expect(b.server.domain.tenants.peek("gone")).toBeUndefined();
    await expectRpcError(used.tokensOnB.issueClientToken({}, { headers: used.serviceCredentials }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(used.tokensOnB.introspect({ token: used.token }, { headers: used.readerCredentials }), Code.Unauthenticated, "invalid_client");
    expect((await fetch(`${b.server.url.replace(/\/$/, "")}/t/gone/.well-known/jwks.json`)).status).toBe(404);
    await eventually(async () => verifier.status().signingKeyIds.length === 0);
    expect(await verifier.verify(used.token)).toMatchObject({ active: false, reason: "unknown_key" });
  });

  it("CreateTenant on A: an instance that loaded the tenant before it read the creation keeps that domain (and its watch streams) when it does", async () => {
    const created = await a.admin.createTenant({ id: "early", adminClientId: "early-admin" }, await platformHeaders());
    const adminToken = (await createClient(TokenService, at(a, "early")).issueClientToken({}, { headers: basic("early-admin", created.adminClientSecret) })).accessToken;
    const reader = await createClient(AdminService, at(a, "early")).createClient({ id: "reader", scopes: ["token:introspect"] }, { headers: bearer(adminToken) });
    const credentials = basic("reader", reader.clientSecret);
    const tokensOnSlow = createClient(TokenService, at(slow, "early"));
    expect((await tokensOnSlow.issueClientToken({}, { headers: credentials })).accessToken).not.toBe("");
    const loaded = slow.server.domain.tenants.peek("early");
    expect(loaded).toBeDefined();
    const controller = new AbortController();
    let snapshotReceived: () => void = () => undefined;
    const snapshot = new Promise<void>((resolve) => (snapshotReceived = resolve));
    const stream = (async () => {
      for await (const { message } of tokensOnSlow.watchRevocations({}, { headers: credentials, signal: controller.signal })) {
        if (message.case === "snapshot") snapshotReceived();
      }
      return "ended";
    })().catch((error: unknown) => (controller.signal.aborted ? "open until the test closed it" : `ended: ${String(error)}`));
    await snapshot;
    // The creation's tenant_changed, read now, tells of the record this domain was built from: nothing to drop.
    await slow.server.domain.follower.waitFor((await slow.server.domain.feed.end())!);
    expect(slow.server.domain.tenants.peek("early")).toBe(loaded);
    const heartbeats = new Promise<string>((resolve) => setTimeout(() => resolve("open"), 500).unref());
    expect(await Promise.race([stream, heartbeats])).toBe("open");
    controller.abort();
    expect(await stream).toBe("open until the test closed it");
  });

  it("UpdateTenant on A: B applies the new settings to the next token once it reads the feed, and keeps the tenant's keys", async () => {
    const used = await tenantInUseOnB("tuned");
    const before = await used.tokensOnB.issueClientToken({}, { headers: used.serviceCredentials });
    expect(before.expiresIn).toBe(300n);
    await a.admin.updateTenant({ tenant: { id: "tuned", maxTokenLifetimeSeconds: 90n }, updateMask: { paths: ["max_token_lifetime_seconds"] } }, await platformHeaders());
    const updated = performance.now();
    await eventually(async () => (await used.tokensOnB.issueClientToken({}, { headers: used.serviceCredentials })).expiresIn === 90n, 10_000, 5);
    console.info(`B applied the tenant's new maximum lifetime ${Math.round(performance.now() - updated)} ms after A's UpdateTenant answered`);
    expect((await used.tokensOnB.introspect({ token: before.accessToken }, { headers: used.readerCredentials })).active).toBe(true);
  });
});
