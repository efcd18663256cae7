import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { ADMIN_SCOPE, BACKENDS, bearer, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import type { Backend } from "../support/backends.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Platform administrators act inside every tenant (issue 19): a Bearer token
 * of a default-tenant client with tokensmith:tenants manages any tenant's
 * clients, API keys and signing keys, addressed by /t/<tenant> or the
 * tokensmith-tenant header, as the tenant's own admins do; checked against
 * the store on every call like theirs. Nobody else gains anything: a
 * default-tenant admin without tokensmith:tenants, and one tenant's admin in
 * another, are refused as before.
 */

const TENANTS_SCOPE = "tokensmith:tenants";
const platform = testClient("platform", [TENANTS_SCOPE]);
const defaultAdmin = testClient("default-admin", [ADMIN_SCOPE]);

describe.each(BACKENDS)("platform administrators inside tenants on %s", (_name, makeBackend) => {
  const backend: Backend = makeBackend();
  let t: AdminTestServer;
  let base: string;
  /** The admins that CreateTenant made, by tenant. */
  const tenantAdmins = new Map<string, { id: string; secret: string }>();
  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin: defaultAdmin, clients: [platform] });
    base = t.server.url.replace(/\/$/, "");
    for (const id of ["acme", "globex"]) {
      const created = await adminAt().createTenant({ id, adminClientId: `${id}-admin` }, await asPlatform());
      tenantAdmins.set(id, { id: `${id}-admin`, secret: created.adminClientSecret });
    }
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const at = (tenant?: string) => createGrpcTransport({ baseUrl: tenant === undefined ? base : `${base}/t/${tenant}` });
  const adminAt = (tenant?: string) => createClient(AdminService, at(tenant));
  const tokensAt = (tenant?: string) => createClient(TokenService, at(tenant));
  const tokenOf = async (tenant: string | undefined, client: { id: string; secret: string }, scopes: string[] = []) =>
    (await tokensAt(tenant).issueClientToken({ scopes }, { headers: basic(client.id, client.secret) })).accessToken;
  const asPlatform = async (client: { id: string; secret: string } = platform) => ({ headers: bearer(await tokenOf(undefined, client, [TENANTS_SCOPE])) });
  const clientIdsOf = async (tenant: string | undefined, headers: { headers: Record<string, string> }) =>
    (await adminAt(tenant).listClients({}, headers)).clients.map((client) => client.id);

  it("creates a client in a tenant through /t/<tenant> and through the tokensmith-tenant header; the clients are the tenant's, not the default's", async () => {
    const headers = await asPlatform();
    const byPath = await adminAt("acme").createClient({ id: "orders", scopes: ["orders:read"] }, headers);
    expect(byPath.client).toMatchObject({ id: "orders", scopes: ["orders:read"] });
    const byHeader = await adminAt().createClient({ id: "billing", scopes: ["billing:read"] }, { headers: { ...headers.headers, "tokensmith-tenant": "acme" } });
    expect(byHeader.client!.id).toBe("billing");

    // They are acme's clients: tokens under acme's issuer, nothing in the default tenant or in globex.
    expect(decodeJwt(await tokenOf("acme", { id: "orders", secret: byPath.clientSecret })).payload.iss).toBe(`${base}/t/acme`);
    expect(decodeJwt(await tokenOf("acme", { id: "billing", secret: byHeader.clientSecret })).payload.iss).toBe(`${base}/t/acme`);
    await expectRpcError(tokenOf(undefined, { id: "orders", secret: byPath.clientSecret }), Code.Unauthenticated, "invalid_client");
    expect(await clientIdsOf("acme", headers)).toEqual(["acme-admin", "billing", "orders"]);
    expect(await clientIdsOf(undefined, { headers: bearer(await t.adminToken()) })).toEqual(["default-admin", "platform"]);
    // acme's own admin sees what the platform administrator made.
    expect(await clientIdsOf("acme", { headers: bearer(await tokenOf("acme", tenantAdmins.get("acme")!, [ADMIN_SCOPE])) })).toEqual(["acme-admin", "billing", "orders"]);
    expect(await clientIdsOf("globex", headers)).toEqual(["globex-admin"]);
  });

  it("rotates a secret of a tenant's client, e.g. its lost first admin's, and lists the tenant's signing keys", async () => {
    const headers = await asPlatform();
    const rotated = await adminAt("acme").rotateClientSecret({ id: "acme-admin", overlapSeconds: 1n }, headers);
    const adminToken = await tokenOf("acme", { id: "acme-admin", secret: rotated.clientSecret }, [ADMIN_SCOPE]);
    expect(decodeJwt(adminToken).payload.iss).toBe(`${base}/t/acme`);

    const { keys } = await adminAt("acme").listSigningKeys({}, headers);
    const acmeJwks = (await (await fetch(`${base}/t/acme/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(keys.map((key) => key.kid).sort()).toEqual(acmeJwks.keys.map((key) => key.kid).sort());
    expect(keys.map((key) => key.kid)).toContain(decodeJwt(adminToken).header.kid);
    const defaultKeys = (await adminAt().listSigningKeys({}, { headers: bearer(await t.adminToken()) })).keys.map((key) => key.kid);
    expect(keys.map((key) => key.kid).filter((kid) => defaultKeys.includes(kid))).toEqual([]);
  });

  it("a default-tenant admin without tokensmith:tenants is refused in a tenant: Unauthenticated, as before", async () => {
    const token = await t.adminToken();
    await expectRpcError(adminAt("acme").listClients({}, { headers: bearer(token) }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(adminAt().createClient({ id: "sneaky" }, { headers: { ...bearer(token), "tokensmith-tenant": "acme" } }), Code.Unauthenticated, "invalid_client");
  });

  it("one tenant's admin is refused in another; a tenant's token without tokensmith:admin stays PermissionDenied in its tenant", async () => {
    const acmeAdminToken = await tokenOf("acme", tenantAdmins.get("acme")!, [ADMIN_SCOPE]);
    await expectRpcError(adminAt("globex").listClients({}, { headers: bearer(acmeAdminToken) }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(adminAt("globex").createClient({ id: "sneaky" }, { headers: bearer(acmeAdminToken) }), Code.Unauthenticated, "invalid_client");

    const headers = await asPlatform();
    const reader = await adminAt("acme").createClient({ id: "reader", scopes: ["token:introspect"] }, headers);
    const readerToken = await tokenOf("acme", { id: "reader", secret: reader.clientSecret });
    await expectRpcError(adminAt("acme").listClients({}, { headers: bearer(readerToken) }), Code.PermissionDenied, "insufficient_scope", /tokensmith:admin/);
  });

  it("a platform administrator whose client is deleted, or loses tokensmith:tenants, is refused at once with the token it holds", async () => {
    const defaultAdminHeaders = { headers: bearer(await t.adminToken()) };
    const demoted = await adminAt().createClient({ id: "platform-demoted", scopes: [TENANTS_SCOPE] }, defaultAdminHeaders);
    const removed = await adminAt().createClient({ id: "platform-removed", scopes: [TENANTS_SCOPE] }, defaultAdminHeaders);
    const demotedHeaders = await asPlatform({ id: "platform-demoted", secret: demoted.clientSecret });
    const removedHeaders = await asPlatform({ id: "platform-removed", secret: removed.clientSecret });
    expect(await clientIdsOf("acme", demotedHeaders)).toContain("acme-admin");
    expect(await clientIdsOf("acme", removedHeaders)).toContain("acme-admin");

    await adminAt().updateClient({ client: { id: "platform-demoted", scopes: ["orders:read"] }, updateMask: { paths: ["scopes"] } }, defaultAdminHeaders);
    await adminAt().deleteClient({ id: "platform-removed" }, defaultAdminHeaders);
    for (const headers of [demotedHeaders, removedHeaders]) {
      await expectRpcError(adminAt("acme").listClients({}, headers), Code.Unauthenticated, "invalid_client");
      await expectRpcError(adminAt("acme").createClient({ id: "too-late" }, headers), Code.Unauthenticated, "invalid_client");
    }
    expect(await clientIdsOf("acme", await asPlatform())).not.toContain("too-late");
  });

  it("a tenant that does not exist, or no longer does, is not managed by anyone", async () => {
    const headers = await asPlatform();
    await expectRpcError(adminAt("nowhere").createClient({ id: "ghost" }, headers), Code.Unauthenticated, "invalid_client");
    await adminAt().createTenant({ id: "brief" }, headers);
    await adminAt("brief").createClient({ id: "short-lived" }, headers);
    await adminAt().deleteTenant({ id: "brief" }, headers);
    await expectRpcError(adminAt("brief").listClients({}, headers), Code.Unauthenticated, "invalid_client");
    await expectRpcError(adminAt("brief").createClient({ id: "ghost" }, headers), Code.Unauthenticated, "invalid_client");
  });
});
