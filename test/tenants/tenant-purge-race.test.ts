import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { ConfigInput } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import { ADMIN_SCOPE, bearer, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { redisBackend } from "../support/backends.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * A tenant deleted on two instances (DeleteTenant called again on B while A
 * removes its data) and created again once A has freed the id: B's removal,
 * still waiting for its second sweep, must not sweep away the new tenant's
 * data. An instance's removal waits longer with a slower feed poll
 * (purgeSettleMs = 40 polls, at least 1 s), which orders the two here.
 */

const platform = testClient("platform", ["tokensmith:tenants"]);
const admin = testClient("admin", [ADMIN_SCOPE]);

describe("a tenant created again while another instance still removes its former data", { timeout: 60_000 }, () => {
  const backend = redisBackend();
  let a: AdminTestServer;
  let b: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    const shared: Partial<ConfigInput> = { ...backend.serverOptions().config, issuer: "http://tokensmith.test" };
    const options = { admin, clients: [platform], sharedConfig: shared, clock: new ManualClock(Math.floor(Date.now() / 1000) * 1000) };
    a = await startAdminServer(backend, { ...options, config: { feedPollMs: 25 } });
    b = await startAdminServer(backend, { ...options, config: { feedPollMs: 100 } });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend.stop();
  });

  const platformHeaders = async (on: AdminTestServer) => ({
    headers: bearer((await on.tokens.issueClientToken({ scopes: ["tokensmith:tenants"] }, { headers: basic(platform.id, platform.secret) })).accessToken),
  });
  const tokensAt = (on: AdminTestServer, tenant: string) => createClient(TokenService, createGrpcTransport({ baseUrl: `${on.server.url.replace(/\/$/, "")}/t/${tenant}` }));

  it("keeps the new tenant's clients and keys: the late removal stops once the record it removes for is gone", async () => {
    await a.admin.createTenant({ id: "reborn", adminClientId: "reborn-admin" }, await platformHeaders(a));
    await a.admin.deleteTenant({ id: "reborn" }, await platformHeaders(a));
    // Called again on B: B carries on the removal too, and its second sweep comes ~4 s later (A's ~1 s).
    await b.admin.deleteTenant({ id: "reborn" }, await platformHeaders(b));
    await a.server.domain.platform.purged("reborn");

    const created = await a.admin.createTenant({ id: "reborn", adminClientId: "reborn-admin" }, await platformHeaders(a));
    const credentials = basic("reborn-admin", created.adminClientSecret);
    const before = await tokensAt(a, "reborn").issueClientToken({}, { headers: credentials });
    await b.server.domain.platform.purged("reborn");

    // The new tenant is whole: its record, its admin client, the key ring that signed its token.
    expect((await b.admin.getTenant({ id: "reborn" }, await platformHeaders(b))).tenant?.deleteTime).toBeUndefined();
    const after = await tokensAt(b, "reborn").issueClientToken({}, { headers: credentials });
    expect(after.accessToken).not.toBe("");
    const jwks = (await (await fetch(`${b.server.url.replace(/\/$/, "")}/t/reborn/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((key) => key.kid)).toContain(decodeJwt(before.accessToken).header.kid);
  });
});
