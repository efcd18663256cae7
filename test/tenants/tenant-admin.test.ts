import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdminService, Source } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { hashSecret } from "../../src/domain/secret-format.js";
import { TENANTS_KEY } from "../../src/domain/tenant-registry.js";
import { MemoryStore } from "../../src/store/memory.js";
import { tenantKeyPrefix } from "../../src/store/tenant-store.js";
import { createVerifier, type Verifier } from "../../src/verifier/index.js";
import { ADMIN_SCOPE, BACKENDS, bearer, type AdminClient, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import type { Backend, redisBackend } from "../support/backends.js";
import { eventually } from "../support/eventually.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient, type TestClient } from "../support/tokensmith.js";

/**
 * Platform administration of tenants (issue 19 item 4): CreateTenant,
 * GetTenant, ListTenants, UpdateTenant and DeleteTenant, for a client of the
 * default tenant with tokensmith:tenants only; a tenant's settings applied
 * to its clients' tokens; deletion ending every token of the tenant at once
 * (Introspect, verifiers) and removing its data; an id used again starting
 * from nothing.
 */

const TENANTS_SCOPE = "tokensmith:tenants";
const platform = testClient("platform", [TENANTS_SCOPE]);
const defaultAdmin = testClient("default-admin", [ADMIN_SCOPE]);
const defaultReader = testClient("default-reader", ["token:introspect"]);
const declaredAdmin = testClient("declared-admin", [ADMIN_SCOPE]);
/** A client of a tenant that was given the platform's scope: still no platform administrator. */
const declaredPretender = testClient("declared-pretender", [TENANTS_SCOPE, ADMIN_SCOPE]);
const declare = (clients: TestClient[]) => clients.map((client) => ({ id: client.id, secretHashes: [hashSecret(client.secret)], scopes: client.scopes }));

const verifiers = new Set<Verifier>();
afterEach(async () => {
  await Promise.all([...verifiers].map((verifier) => verifier.close()));
  verifiers.clear();
});

describe.each(BACKENDS)("tenant administration on %s", (_name, makeBackend) => {
  const backend: Backend = makeBackend();
  let t: AdminTestServer;
  let base: string;
  /** AdminService at the default tenant, sending only the headers each call sets. */
  let platformAdmin: AdminClient;
  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, {
      admin: defaultAdmin,
      clients: [platform, defaultReader],
      config: { tenants: [{ id: "declared", clients: declare([declaredAdmin, declaredPretender]) }], watchHeartbeatSeconds: 0.1 },
    });
    base = t.server.url.replace(/\/$/, "");
    platformAdmin = adminAt();
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const at = (tenant: string | undefined) => createGrpcTransport({ baseUrl: tenant === undefined ? base : `${base}/t/${tenant}` });
  const adminAt = (tenant?: string) => createClient(AdminService, at(tenant));
  const tokensAt = (tenant?: string) => createClient(TokenService, at(tenant));
  const tokenOf = async (tenant: string | undefined, client: { id: string; secret: string }, scopes: string[] = [], audience: string[] = []) =>
    (await tokensAt(tenant).issueClientToken({ scopes, audience }, { headers: basic(client.id, client.secret) })).accessToken;
  /** Headers of a platform administrator's call. */
  const asPlatform = async () => ({ headers: bearer(await tokenOf(undefined, platform, [TENANTS_SCOPE])) });

  /** Creates a tenant with an admin client; resolves that admin's credentials. */
  async function createTenant(id: string, fields: { defaultTokenLifetimeSeconds?: bigint; maxTokenLifetimeSeconds?: bigint; corsAllowedOrigins?: string[] } = {}) {
    const created = await platformAdmin.createTenant({ id, adminClientId: `${id}-admin`, ...fields }, await asPlatform());
    // Once this instance's follower has read the creation's tenant_changed, which drops whatever it loaded of the
    // tenant meanwhile (ending its watch streams): a verifier started before that would be reconnecting later.
    const { follower, feed } = t.server.domain;
    await follower.waitFor((await feed.end())!);
    return { id: created.adminClient!.id, secret: created.adminClientSecret };
  }

  /** The store keys of `tenant` left, read from the store itself (Redis: KEYS on the server). */
  async function keysOf(tenant: string): Promise<string[]> {
    const store = t.server.domain.store;
    if (store instanceof MemoryStore) return store.keysStartingWith(tenantKeyPrefix(tenant));
    const config = t.server.domain.config.store;
    const keyPrefix = config.type === "redis" ? (config.keyPrefix ?? "tokensmith:") : "";
    return (await (backend as ReturnType<typeof redisBackend>).redis().command(["KEYS", `${keyPrefix}${tenantKeyPrefix(tenant)}*`])) as string[];
  }

  describe("authorization", () => {
    it("without a token every tenant call is Unauthenticated", async () => {
      const calls = [
        platformAdmin.createTenant({ id: "nobody-made" }),
        platformAdmin.getTenant({ id: "default" }),
        platformAdmin.listTenants({}),
        platformAdmin.updateTenant({ tenant: { id: "declared" }, updateMask: { paths: ["display_name"] } }),
        platformAdmin.deleteTenant({ id: "declared" }),
      ];
      for (const call of calls) await expectRpcError(call, Code.Unauthenticated, "invalid_client", /tokensmith:tenants/);
    });

    it("a default-tenant admin without tokensmith:tenants is PermissionDenied", async () => {
      await expectRpcError(platformAdmin.listTenants({}, { headers: bearer(await t.adminToken()) }), Code.PermissionDenied, "insufficient_scope", /tokensmith:tenants/);
    });

    it("a tenant's admin is refused: PermissionDenied in its own tenant, Unauthenticated in the default tenant", async () => {
      const token = await tokenOf("declared", declaredAdmin, [ADMIN_SCOPE]);
      await expectRpcError(adminAt("declared").listTenants({}, { headers: bearer(token) }), Code.PermissionDenied, "insufficient_scope");
      await expectRpcError(platformAdmin.listTenants({}, { headers: bearer(token) }), Code.Unauthenticated, "invalid_client");
      await expectRpcError(adminAt("declared").createTenant({ id: "by-tenant-admin" }, { headers: bearer(token) }), Code.PermissionDenied, "insufficient_scope");
    });

    it("a client of another tenant holding tokensmith:tenants is no platform administrator", async () => {
      const token = await tokenOf("declared", declaredPretender, [TENANTS_SCOPE]);
      await expectRpcError(
        adminAt("declared").createTenant({ id: "by-pretender" }, { headers: bearer(token) }),
        Code.PermissionDenied,
        "access_denied",
        /platform administrators only/,
      );
      await expectRpcError(platformAdmin.createTenant({ id: "by-pretender" }, { headers: bearer(token) }), Code.Unauthenticated, "invalid_client");
      await expectRpcError(platformAdmin.getTenant({ id: "by-pretender" }, await asPlatform()), Code.NotFound, "invalid_request");
    });

    it("a platform token addressed to another tenant is not valid there: Unauthenticated", async () => {
      await expectRpcError(adminAt("declared").listTenants({}, await asPlatform()), Code.Unauthenticated, "invalid_client");
    });
  });

  describe("validation", () => {
    it("refuses ill-formed tenant ids and admin client ids with InvalidArgument, creating nothing", async () => {
      const headers = await asPlatform();
      for (const id of ["", "Acme", "-acme", "acme-", "a_b", "a.b", "x".repeat(64), "t/x"]) {
        await expectRpcError(platformAdmin.createTenant({ id }, headers), Code.InvalidArgument, "invalid_request", /tenant id/);
      }
      await expectRpcError(platformAdmin.createTenant({ id: "bad-admin", adminClientId: "no spaces" }, headers), Code.InvalidArgument, "invalid_request", /admin_client_id/);
      await expectRpcError(platformAdmin.getTenant({ id: "bad-admin" }, headers), Code.NotFound, "invalid_request");
      await expectRpcError(platformAdmin.getTenant({ id: "Not_A_Slug" }, headers), Code.InvalidArgument, "invalid_request");
    });

    it("refuses settings out of bounds: lifetimes beyond the deployment's (600 s) or the tenant's maximum, non-origins", async () => {
      const headers = await asPlatform();
      const refused = [
        { maxTokenLifetimeSeconds: 601n },
        { maxTokenLifetimeSeconds: -1n },
        { defaultTokenLifetimeSeconds: 601n },
        { maxTokenLifetimeSeconds: 100n, defaultTokenLifetimeSeconds: 101n },
        { corsAllowedOrigins: ["https://app.example/path"] },
        { corsAllowedOrigins: ["*"] },
        { corsAllowedOrigins: ["HTTPS://APP.EXAMPLE"] },
        { displayName: "line\nbreak" },
        { displayName: "x".repeat(201) },
      ];
      for (const fields of refused) {
        await expectRpcError(platformAdmin.createTenant({ id: "out-of-bounds", ...fields }, headers), Code.InvalidArgument, "invalid_request");
      }
      await expectRpcError(platformAdmin.getTenant({ id: "out-of-bounds" }, headers), Code.NotFound, "invalid_request");
    });

    it("the default tenant and config-declared ones exist (AlreadyExists), are listed from the config and are read-only (FailedPrecondition)", async () => {
      const headers = await asPlatform();
      for (const id of ["default", "declared"]) {
        await expectRpcError(platformAdmin.createTenant({ id }, headers), Code.AlreadyExists, "invalid_request");
        await expectRpcError(
          platformAdmin.updateTenant({ tenant: { id, displayName: "mine now" }, updateMask: { paths: ["display_name"] } }, headers),
          Code.FailedPrecondition,
          "invalid_request",
          /read-only/,
        );
        await expectRpcError(platformAdmin.deleteTenant({ id }, headers), Code.FailedPrecondition, "invalid_request", /read-only/);
        const { tenant } = await platformAdmin.getTenant({ id }, headers);
        expect(tenant).toMatchObject({ id, source: Source.CONFIG, issuer: id === "default" ? base : `${base}/t/${id}` });
      }
      // Still there and working.
      await tokenOf("declared", declaredAdmin);
    });

    it("a duplicate id is AlreadyExists; unknown tenants are NotFound; a bad update_mask is InvalidArgument", async () => {
      const headers = await asPlatform();
      await platformAdmin.createTenant({ id: "dup" }, headers);
      await expectRpcError(platformAdmin.createTenant({ id: "dup" }, headers), Code.AlreadyExists, "invalid_request", /tenant "dup"/);
      await expectRpcError(platformAdmin.getTenant({ id: "nobody" }, headers), Code.NotFound, "invalid_request");
      await expectRpcError(platformAdmin.deleteTenant({ id: "nobody" }, headers), Code.NotFound, "invalid_request");
      await expectRpcError(
        platformAdmin.updateTenant({ tenant: { id: "nobody" }, updateMask: { paths: ["display_name"] } }, headers),
        Code.NotFound,
        "invalid_request",
      );
      await expectRpcError(platformAdmin.updateTenant({ tenant: { id: "dup" }, updateMask: { paths: [] } }, headers), Code.InvalidArgument, "invalid_request");
      await expectRpcError(
        platformAdmin.updateTenant({ tenant: { id: "dup" }, updateMask: { paths: ["id", "issuer"] } }, headers),
        Code.InvalidArgument,
        "invalid_request",
        /cannot be updated: id, issuer/,
      );
    });
  });

  it("create, then use: the new tenant's admin gets a token under the tenant's issuer and manages clients of its tenant only", async () => {
    const headers = await asPlatform();
    const created = await platformAdmin.createTenant({ id: "acme", displayName: "Acme Corp", adminClientId: "acme-admin" }, headers);
    expect(created.tenant).toMatchObject({ id: "acme", displayName: "Acme Corp", source: Source.STORE, issuer: `${base}/t/acme` });
    expect(timestampMs(created.tenant!.createTime!)).toBe(t.clock.now());
    expect(created.adminClient).toMatchObject({ id: "acme-admin", scopes: [ADMIN_SCOPE], source: Source.STORE });
    expect(created.adminClientSecret).toMatch(/^tks_cs_/);
    // Shown once: Get never has it.
    expect(JSON.stringify(await platformAdmin.getTenant({ id: "acme" }, headers), (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value))).not.toContain(
      created.adminClientSecret,
    );

    const acmeAdmin = { id: "acme-admin", secret: created.adminClientSecret };
    const adminToken = await tokenOf("acme", acmeAdmin, [ADMIN_SCOPE]);
    expect(decodeJwt(adminToken).payload.iss).toBe(`${base}/t/acme`);
    const { clientSecret } = await adminAt("acme").createClient({ id: "orders", scopes: ["orders:read"] }, { headers: bearer(adminToken) });
    expect(decodeJwt(await tokenOf("acme", { id: "orders", secret: clientSecret })).payload.iss).toBe(`${base}/t/acme`);
    await expectRpcError(tokenOf(undefined, { id: "orders", secret: clientSecret }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(tokenOf("declared", { id: "orders", secret: clientSecret }), Code.Unauthenticated, "invalid_client");
    expect((await adminAt("acme").listClients({}, { headers: bearer(adminToken) })).clients.map((client) => client.id)).toEqual(["acme-admin", "orders"]);
    // Its token is nothing in the default tenant, nor in another.
    await expectRpcError(platformAdmin.listClients({}, { headers: bearer(adminToken) }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(adminAt("declared").listClients({}, { headers: bearer(adminToken) }), Code.Unauthenticated, "invalid_client");
  });

  it("ListTenants pages through the default, declared and created tenants by id", async () => {
    const headers = await asPlatform();
    for (const id of ["list-b", "list-a", "list-c"]) await platformAdmin.createTenant({ id }, headers);
    const ids: string[] = [];
    let pageToken = "";
    do {
      const page = await platformAdmin.listTenants({ pageSize: 2, pageToken }, headers);
      expect(page.tenants.length).toBeLessThanOrEqual(2);
      ids.push(...page.tenants.map((tenant) => tenant.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(["declared", "default", "list-a", "list-b", "list-c"]));
    await expectRpcError(platformAdmin.listTenants({ pageSize: -1 }, headers), Code.InvalidArgument, "invalid_request");
  });

  it("a tenant's lifetimes apply to its clients' tokens, and an update applies to the next token", async () => {
    const headers = await asPlatform();
    const admin = await createTenant("lifetimes", { defaultTokenLifetimeSeconds: 120n, maxTokenLifetimeSeconds: 300n });
    const adminHeaders = { headers: bearer(await tokenOf("lifetimes", admin, [ADMIN_SCOPE])) };
    const acme = adminAt("lifetimes");
    const plain = await acme.createClient({ id: "plain" }, adminHeaders);
    expect(plain.client!.tokenLifetimeSeconds).toBe(120n);
    await expectRpcError(acme.createClient({ id: "too-long", tokenLifetimeSeconds: 301n }, adminHeaders), Code.InvalidArgument, "invalid_request", /between 1 and 300/);
    const long = await acme.createClient({ id: "long", tokenLifetimeSeconds: 300n }, adminHeaders);
    const expiresIn = async (id: string, secret: string) =>
      (await tokensAt("lifetimes").issueClientToken({}, { headers: basic(id, secret) })).expiresIn;
    expect(await expiresIn("long", long.clientSecret)).toBe(300n);

    const { tenant } = await platformAdmin.updateTenant(
      { tenant: { id: "lifetimes", maxTokenLifetimeSeconds: 200n, displayName: "ignored: not in the mask" }, updateMask: { paths: ["max_token_lifetime_seconds"] } },
      headers,
    );
    expect(tenant).toMatchObject({ maxTokenLifetimeSeconds: 200n, defaultTokenLifetimeSeconds: 120n, displayName: "" });
    // The lowered maximum caps a client set longer before it.
    expect(await expiresIn("long", long.clientSecret)).toBe(200n);
    expect(await expiresIn("plain", plain.clientSecret)).toBe(120n);
    // Back to the deployment's default (300), capped by the tenant's maximum.
    await platformAdmin.updateTenant({ tenant: { id: "lifetimes", defaultTokenLifetimeSeconds: 0n }, updateMask: { paths: ["default_token_lifetime_seconds"] } }, headers);
    const adminAfter = { headers: bearer(await tokenOf("lifetimes", admin, [ADMIN_SCOPE])) };
    expect((await acme.createClient({ id: "later" }, adminAfter)).client!.tokenLifetimeSeconds).toBe(200n);
    // A maximum below the default set: refused, nothing changes.
    await platformAdmin.updateTenant({ tenant: { id: "lifetimes", defaultTokenLifetimeSeconds: 150n }, updateMask: { paths: ["default_token_lifetime_seconds"] } }, headers);
    await expectRpcError(
      platformAdmin.updateTenant({ tenant: { id: "lifetimes", maxTokenLifetimeSeconds: 100n }, updateMask: { paths: ["max_token_lifetime_seconds"] } }, headers),
      Code.InvalidArgument,
      "invalid_request",
      /exceed max_token_lifetime_seconds/,
    );
    expect((await platformAdmin.getTenant({ id: "lifetimes" }, headers)).tenant).toMatchObject({ maxTokenLifetimeSeconds: 200n, defaultTokenLifetimeSeconds: 150n });
    // What the tenant's admin (and the console) is told: the tenant's lifetimes, not the deployment's.
    expect(await acme.listClients({}, adminAfter)).toMatchObject({ defaultTokenLifetimeSeconds: 150n, maxTokenLifetimeSeconds: 200n });
    // Tokens issued before an update stay valid: the tenant keeps its keys.
    expect((await acme.listClients({}, adminAfter)).clients.map((client) => client.id)).toEqual(["later", "lifetimes-admin", "long", "plain"]);
  });

  it("a tenant's CORS origins are allowed at its /t/<tenant>/ URLs only (preflight and response), until an update takes them away", async () => {
    const origin = "https://app.browser.example";
    const headers = await asPlatform();
    await platformAdmin.createTenant({ id: "browser", corsAllowedOrigins: [origin, origin] }, headers);
    expect((await platformAdmin.getTenant({ id: "browser" }, headers)).tenant!.corsAllowedOrigins).toEqual([origin]);
    const preflight = (prefix: string, from = origin) =>
      fetch(`${base}${prefix}/tokensmith.v1.TokenService/IssueClientToken`, {
        method: "OPTIONS",
        headers: { origin: from, "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" },
      });
    const allowed = await preflight("/t/browser");
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(origin);
    expect(allowed.headers.get("access-control-allow-headers")).toMatch(/authorization/i);
    expect((await preflight("/t/browser", "https://evil.example")).status).toBe(403);
    // Not the deployment's, nor another tenant's, nor the tenant by header (a preflight carries no header values).
    for (const prefix of ["", "/t/declared", "/t/nobody"]) expect((await preflight(prefix)).headers.get("access-control-allow-origin")).toBeNull();
    const jwks = await fetch(`${base}/t/browser/.well-known/jwks.json`, { headers: { origin } });
    expect([jwks.status, jwks.headers.get("access-control-allow-origin"), jwks.headers.get("vary")]).toEqual([200, origin, "Origin"]);

    await platformAdmin.updateTenant({ tenant: { id: "browser", corsAllowedOrigins: [] }, updateMask: { paths: ["cors_allowed_origins"] } }, headers);
    expect((await preflight("/t/browser")).headers.get("access-control-allow-origin")).toBeNull();
  });

  it("after the feed could not be read, the loaded tenants that the store has changed or lost are dropped, the others kept", async () => {
    const headers = await asPlatform();
    const ids = ["kept", "changed", "lost", "declared"];
    for (const id of ids.slice(0, 3)) await platformAdmin.createTenant({ id }, headers);
    // This instance has heard its own announcements (each drops the tenant again), then loads each by a first call.
    await t.server.domain.follower.waitFor((await t.server.domain.feed.end())!);
    for (const id of ids) await tokensAt(id).getJwks({});
    const { tenants, store } = t.server.domain;
    expect(ids.map((id) => tenants.peek(id) !== undefined)).toEqual([true, true, true, true]);
    // What an UpdateTenant and a DeleteTenant on another instance leave in the store, their announcements missed.
    const record = JSON.parse((await store.hashGet(TENANTS_KEY, "changed"))!) as object;
    await store.hashSet(TENANTS_KEY, "changed", JSON.stringify({ ...record, displayName: "changed elsewhere" }));
    await store.hashDelete(TENANTS_KEY, "lost");
    await tenants.recheck();
    expect(ids.map((id) => tenants.peek(id) !== undefined)).toEqual([true, false, false, true]);
  });

  it("DeleteTenant: its tokens stop at once (Introspect, a verifier following it), its clients are refused, its data goes; the id is then free and starts from nothing", async () => {
    const headers = await asPlatform();
    const admin = await createTenant("doomed");
    const adminToken = await tokenOf("doomed", admin, [ADMIN_SCOPE]);
    const doomedAdmin = adminAt("doomed");
    const checkout = await doomedAdmin.createClient({ id: "checkout", scopes: ["orders:read"], audiences: ["orders"] }, { headers: bearer(adminToken) });
    const ordersApi = await doomedAdmin.createClient({ id: "orders-api", scopes: ["token:introspect"] }, { headers: bearer(adminToken) });
    await doomedAdmin.createApiKey({ name: "backend", scopes: ["passkey:read"] }, { headers: bearer(adminToken) });
    const token = await tokenOf("doomed", { id: "checkout", secret: checkout.clientSecret }, [], ["orders"]);
    const kid = decodeJwt(token).header.kid;
    const introspectedBy = (id: string, secret: string) => tokensAt("doomed").introspect({ token }, { headers: basic(id, secret) });
    expect((await introspectedBy("orders-api", ordersApi.clientSecret)).active).toBe(true);
    const verifier = createVerifier({
      baseUrl: `${base}/t/doomed`,
      issuer: `${base}/t/doomed`,
      audience: "orders",
      clientId: "orders-api",
      clientSecret: ordersApi.clientSecret,
      maxStalenessMs: 2_000,
    });
    verifiers.add(verifier);
    await verifier.ready();
    expect(await verifier.verify(token)).toMatchObject({ active: true });
    expect(await keysOf("doomed")).not.toEqual([]);

    await platformAdmin.deleteTenant({ id: "doomed" }, headers);

    // On this instance at once: the tenant is gone for every call.
    await expectRpcError(introspectedBy("orders-api", ordersApi.clientSecret), Code.Unauthenticated, "invalid_client");
    await expectRpcError(tokenOf("doomed", { id: "checkout", secret: checkout.clientSecret }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(doomedAdmin.listClients({}, { headers: bearer(adminToken) }), Code.Unauthenticated, "invalid_client");
    expect((await fetch(`${base}/t/doomed/.well-known/jwks.json`)).status).toBe(404);
    // Nor is its token anything anywhere else.
    expect((await tokensAt().introspect({ token }, { headers: basic(defaultReader.id, defaultReader.secret) })).active).toBe(false);
    // The verifier is told no key of the tenant is published any more.
    await eventually(async () => verifier.status().signingKeyIds.length === 0);
    expect(await verifier.verify(token)).toMatchObject({ active: false, reason: "unknown_key" });

    // While its data is removed, the id is taken.
    const deleting = (await platformAdmin.getTenant({ id: "doomed" }, headers)).tenant!;
    expect(deleting.deleteTime).toBeDefined();
    await expectRpcError(platformAdmin.createTenant({ id: "doomed" }, headers), Code.FailedPrecondition, "invalid_request", /being deleted/);
    await expectRpcError(
      platformAdmin.updateTenant({ tenant: { id: "doomed", displayName: "x" }, updateMask: { paths: ["display_name"] } }, headers),
      Code.FailedPrecondition,
      "invalid_request",
      /being deleted/,
    );
    // Deleting again carries on.
    await platformAdmin.deleteTenant({ id: "doomed" }, headers);
    await eventually(() => platformAdmin.getTenant({ id: "doomed" }, headers).then(() => false, () => true));
    expect(await keysOf("doomed")).toEqual([]);

    // The same id again: a new tenant, with nothing of the old one.
    const again = await createTenant("doomed");
    const newAdminToken = await tokenOf("doomed", again, [ADMIN_SCOPE]);
    expect((await doomedAdmin.listClients({}, { headers: bearer(newAdminToken) })).clients.map((client) => client.id)).toEqual(["doomed-admin"]);
    expect((await doomedAdmin.listApiKeys({}, { headers: bearer(newAdminToken) })).apiKeys).toEqual([]);
    await expectRpcError(doomedAdmin.listClients({}, { headers: bearer(adminToken) }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(tokenOf("doomed", { id: "checkout", secret: checkout.clientSecret }), Code.Unauthenticated, "invalid_client");
    // The old token names the same issuer, but the new tenant's keys are new: it is not active there.
    expect(decodeJwt(newAdminToken).header.kid).not.toBe(kid);
    const newReader = await doomedAdmin.createClient({ id: "orders-api", scopes: ["token:introspect"] }, { headers: bearer(newAdminToken) });
    expect((await introspectedBy("orders-api", newReader.clientSecret)).active).toBe(false);
    const fresh = createVerifier({ baseUrl: `${base}/t/doomed`, issuer: `${base}/t/doomed`, audience: "orders", clientId: "orders-api", clientSecret: newReader.clientSecret });
    verifiers.add(fresh);
    await fresh.ready();
    expect(await fresh.verify(token)).toMatchObject({ active: false, reason: "unknown_key" });
  });
});
