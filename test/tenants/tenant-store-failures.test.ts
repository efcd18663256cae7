import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { RunningServer } from "../../src/server.js";
import { MemoryStore } from "../../src/store/memory.js";
import { StoreUnavailableError } from "../../src/store/store.js";
import { tenantKeyPrefix } from "../../src/store/tenant-store.js";
import { bearer } from "../support/admin.js";
import { eventually } from "../support/eventually.js";
import { interceptedStore } from "../support/intercepted-store.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * Tenant administration when the store fails part-way (issue 19 item 4): the
 * call answers Unavailable, never a 500 or a secret; what was done stays
 * safe (a tenant being deleted is unreachable at once), and calling again
 * carries on.
 */

const platform = testClient("platform", ["tokensmith:tenants"]);

/** A MemoryStore whose calls matching `failing` reject like an unreachable Redis. */
function partlyFailingStore(inner: MemoryStore) {
  const state = { failing: (_method: string, _args: unknown[]) => false };
  const store = interceptedStore(inner, (operation, args, proceed) =>
    state.failing(operation, args) ? Promise.reject(new StoreUnavailableError("switched off by the test")) : proceed(),
  );
  return { store, state };
}

describe("tenant administration when the store fails part-way", () => {
  const memory = new MemoryStore();
  const { store, state } = partlyFailingStore(memory);
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer({ store, clients: [platform] });
    base = server.url.replace(/\/$/, "");
  });
  afterAll(async () => {
    state.failing = () => false;
    await server?.close();
    await memory.close();
  });

  const adminAt = (tenant?: string) => createClient(AdminService, createGrpcTransport({ baseUrl: tenant === undefined ? base : `${base}/t/${tenant}` }));
  const tokensAt = (tenant?: string) => createClient(TokenService, createGrpcTransport({ baseUrl: tenant === undefined ? base : `${base}/t/${tenant}` }));
  const asPlatform = async () => ({
    headers: bearer((await tokensAt().issueClientToken({ scopes: ["tokensmith:tenants"] }, { headers: basic(platform.id, platform.secret) })).accessToken),
  });
  const gone = (id: string) => async () => adminAt().getTenant({ id }, await asPlatform()).then(() => false, (error: unknown) => (error as { code?: Code }).code === Code.NotFound);

  async function tenantWithAdmin(id: string) {
    const created = await adminAt().createTenant({ id, adminClientId: `${id}-admin` }, await asPlatform());
    return basic(`${id}-admin`, created.adminClientSecret);
  }

  it("DeleteTenant whose announcement fails: Unavailable, the tenant already unreachable here; called again, it completes", async () => {
    const adminCredentials = await tenantWithAdmin("flaky");
    const headers = await asPlatform();
    // In use here: heard its own creation's announcement, then loaded by a call.
    await server.domain.follower.waitFor((await server.domain.feed.end())!);
    await tokensAt("flaky").issueClientToken({}, { headers: adminCredentials });
    expect(server.domain.tenants.peek("flaky")).toBeDefined();
    state.failing = (method) => method === "feedAppend";
    const refused = await expectRpcError(adminAt().deleteTenant({ id: "flaky" }, headers), Code.Unavailable, "temporarily_unavailable");
    expect(refused.rawMessage).not.toContain("switched off");
    state.failing = () => false;
    await expectRpcError(tokensAt("flaky").issueClientToken({}, { headers: adminCredentials }), Code.Unauthenticated, "invalid_client");
    expect((await adminAt().getTenant({ id: "flaky" }, headers)).tenant!.deleteTime).toBeDefined();
    await adminAt().deleteTenant({ id: "flaky" }, headers);
    await eventually(gone("flaky"));
    expect(memory.keysStartingWith(tenantKeyPrefix("flaky"))).toEqual([]);
  });

  it("a background removal that fails leaves the tenant marked deleted and its id taken; DeleteTenant again finishes it", async () => {
    await tenantWithAdmin("stuck");
    const headers = await asPlatform();
    state.failing = (method) => method === "deleteByPrefix";
    await adminAt().deleteTenant({ id: "stuck" }, headers);
    await server.domain.platform.purged("stuck");
    state.failing = () => false;
    expect((await adminAt().getTenant({ id: "stuck" }, headers)).tenant!.deleteTime).toBeDefined();
    expect(memory.keysStartingWith(tenantKeyPrefix("stuck"))).not.toEqual([]);
    await expectRpcError(adminAt().createTenant({ id: "stuck" }, headers), Code.FailedPrecondition, "invalid_request", /DeleteTenant it again/);
    await adminAt().deleteTenant({ id: "stuck" }, headers);
    await eventually(gone("stuck"));
    expect(memory.keysStartingWith(tenantKeyPrefix("stuck"))).toEqual([]);
  });

  it("CreateTenant whose admin client cannot be stored: Unavailable, and the tenant goes again, so the id can be used", async () => {
    const headers = await asPlatform();
    state.failing = (method, args) => method === "hashSet" && String(args[0]).startsWith(tenantKeyPrefix("half"));
    await expectRpcError(adminAt().createTenant({ id: "half", adminClientId: "half-admin" }, headers), Code.Unavailable, "temporarily_unavailable");
    state.failing = () => false;
    await eventually(gone("half"));
    const created = await adminAt().createTenant({ id: "half", adminClientId: "half-admin" }, headers);
    expect(created.adminClientSecret).toMatch(/^tks_cs_/);
  });
});
