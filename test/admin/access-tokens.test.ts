import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { beforeEach, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { hashSecret } from "../../src/domain/secret-format.js";
import { createVerifier } from "../../src/verifier/index.js";
import { storeKeys } from "../../src/store/store.js";
import { ADMIN_SCOPE, ADMIN_TEST_CONFIG, BACKENDS, bearer, decodeJwt, useAdminServer, useTwoInstancesOnRedis, type AdminTestServer } from "../support/admin.js";
import { eventually } from "../support/eventually.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient, tokenClient, type TestClient } from "../support/tokensmith.js";

/**
 * Named access tokens (issue 21 item 4, as Beyond Identity's console offers
 * them): an administrator picks a client, a name, scopes and a lifetime; the
 * token is shown once, is an ordinary access token of that client, is listed
 * by name (never the token) until it expires or is revoked, and is revoked by
 * id through the revocation list and the change feed.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const reporting = testClient("reporting", ["reports:read", "reports:write"]);
const declaredAdmin = testClient("declared-admin", [ADMIN_SCOPE]);
const declare = (clients: TestClient[]) => clients.map((client) => ({ id: client.id, secretHashes: [hashSecret(client.secret)], scopes: client.scopes }));

describe.each(BACKENDS)("AdminService named access tokens on %s", (_name, makeBackend) => {
  const server = useAdminServer(makeBackend, {
    admin,
    clients: [resourceServer, reporting],
    protocol: "connect",
    config: { tenants: [{ id: "declared", clients: declare([declaredAdmin, reporting]) }] },
  });
  let t: AdminTestServer;
  beforeEach(() => {
    t = server();
  });

  const introspect = (token: string) => t.tokens.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) });
  const names = async (clientId = "") => (await t.admin.listAccessTokens({ clientId })).accessTokens.map((info) => info.name);

  it("issues an ordinary access token of the client with the chosen scopes and lifetime, shown once with its record", async () => {
    const created = await t.admin.createAccessToken({ clientId: reporting.id, name: "nightly export", scopes: ["reports:read"], lifetimeSeconds: 120n });
    const info = created.accessToken!;
    const claims = decodeJwt(created.token).payload;
    expect(claims).toMatchObject({ sub: reporting.id, client_id: reporting.id, scope: "reports:read", iss: t.server.domain.issuer, jti: info.id });
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
    expect(info).toMatchObject({ name: "nightly export", clientId: reporting.id, scopes: ["reports:read"], createdBy: admin.id });
    expect(timestampMs(info.createTime!)).toBe(t.clock.now());
    expect(timestampMs(info.expireTime!)).toBe((claims.exp as number) * 1000);

    const introspected = await introspect(created.token);
    expect(introspected).toMatchObject({ active: true, clientId: reporting.id, sub: reporting.id, scopes: ["reports:read"], jti: info.id });
    // Accepted as any token of its client, e.g. as a Bearer caller with the client's scope.
    const caller = await t.admin.createAccessToken({ clientId: resourceServer.id, name: "introspector" });
    expect((await t.tokens.introspect({ token: created.token }, { headers: bearer(caller.token) })).active).toBe(true);
  });

  it("counts a named token in tokensmith_tokens_issued_total{kind=\"access_token\"}, and a refused one not", async () => {
    const issued = async () => {
      const text = await (await fetch(`${t.server.url}/metrics`)).text();
      const line = text.split("\n").find((candidate) => candidate.startsWith('tokensmith_tokens_issued_total{kind="access_token"} '));
      return line === undefined ? 0 : Number(line.split(" ")[1]);
    };
    const headers = bearer(await t.adminToken()); // one admin token, issued (and counted) before the count is read
    const before = await issued();
    await t.admin.createAccessToken({ clientId: reporting.id, name: "counted" }, { headers });
    await expectRpcError(t.admin.createAccessToken({ clientId: "no-such-client", name: "refused" }, { headers }), Code.NotFound, "invalid_request");
    expect(await issued()).toBe(before + 1);
  });

  it("empty scopes are all of the client's scopes; lifetime 0 is the client's token lifetime", async () => {
    const created = await t.admin.createAccessToken({ clientId: reporting.id, name: "everything" });
    const claims = decodeJwt(created.token).payload;
    expect(created.accessToken!.scopes).toEqual(["reports:read", "reports:write"]);
    expect((claims.exp as number) - (claims.iat as number)).toBe(ADMIN_TEST_CONFIG.defaultTokenLifetimeSeconds);
  });

  it("listing shows the live named tokens by name, filtered by client, and never a token", async () => {
    const { clientSecret } = await t.admin.createClient({ id: "lister", scopes: ["list:read"] });
    expect(clientSecret).not.toBe("");
    const zulu = await t.admin.createAccessToken({ clientId: "lister", name: "zulu" });
    const alpha = await t.admin.createAccessToken({ clientId: "lister", name: "alpha" });
    const response = await t.admin.listAccessTokens({ clientId: "lister" });
    expect(response.accessTokens.map((info) => [info.name, info.id])).toEqual([
      ["alpha", alpha.accessToken!.id],
      ["zulu", zulu.accessToken!.id],
    ]);
    const wire = JSON.stringify(response, (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value));
    for (const token of [zulu.token, alpha.token]) {
      expect(wire).not.toContain(token);
      expect(wire).not.toContain(token.split(".")[2]!);
    }
    expect(await names()).toEqual(expect.arrayContaining(["alpha", "zulu"]));
  });

  it("pages through the list", async () => {
    await t.admin.createClient({ id: "pager" });
    for (const name of ["p1", "p2", "p3"]) await t.admin.createAccessToken({ clientId: "pager", name });
    const first = await t.admin.listAccessTokens({ clientId: "pager", pageSize: 2 });
    expect(first.accessTokens.map((info) => info.name)).toEqual(["p1", "p2"]);
    const second = await t.admin.listAccessTokens({ clientId: "pager", pageSize: 2, pageToken: first.nextPageToken });
    expect([second.accessTokens.map((info) => info.name), second.nextPageToken]).toEqual([["p3"], ""]);
  });

  it("revoking by id makes it inactive, announces it on the change feed and drops it from the list", async () => {
    await t.admin.createClient({ id: "revokee", scopes: ["r:w"] });
    const created = await t.admin.createAccessToken({ clientId: "revokee", name: "leaked" });
    const other = await t.admin.createAccessToken({ clientId: "revokee", name: "kept" });
    const before = await t.server.domain.feed.end();
    const revoked = await t.admin.revokeAccessToken({ id: created.accessToken!.id });
    expect(revoked.accessToken).toEqual(created.accessToken);
    expect((await introspect(created.token)).active).toBe(false);
    expect((await introspect(other.token)).active).toBe(true);
    const exp = Math.floor(timestampMs(created.accessToken!.expireTime!) / 1000);
    const events = (await t.server.domain.feed.read(before, 10)).entries.map((entry) => entry.event);
    expect(events).toContainEqual({ type: "access_token_revoked", jti: created.accessToken!.id, exp });
    expect(await t.server.domain.store.get(storeKeys.revokedJti(created.accessToken!.id))).not.toBeNull();
    expect(await names("revokee")).toEqual(["kept"]);
    await expectRpcError(t.admin.revokeAccessToken({ id: created.accessToken!.id }), Code.NotFound, "invalid_request", /not found/);
  });

  it("RevokeClientTokens of the client ends its named tokens too: listed no more, their names free", async () => {
    await t.admin.createClient({ id: "kill-switch" });
    const created = await t.admin.createAccessToken({ clientId: "kill-switch", name: "ci" });
    await t.admin.revokeClientTokens({ id: "kill-switch" });
    expect((await introspect(created.token)).active).toBe(false);
    expect(await names("kill-switch")).toEqual([]);
    t.clock.advance(1);
    const again = await t.admin.createAccessToken({ clientId: "kill-switch", name: "ci" });
    expect((await introspect(again.token)).active).toBe(true);
    expect(await names("kill-switch")).toEqual(["ci"]);
  });

  it("a named token revoked with Revoke (RFC 7009, by a token:delete holder) is listed no more; its name is free", async () => {
    await t.admin.createClient({ id: "rfc7009" });
    await t.admin.createClient({ id: "revoker", scopes: ["token:delete"] });
    const created = await t.admin.createAccessToken({ clientId: "rfc7009", name: "revoked elsewhere" });
    const revoker = await t.admin.createAccessToken({ clientId: "revoker", name: "revoker" });
    await t.tokens.revoke({ token: created.token }, { headers: bearer(revoker.token) });
    expect((await introspect(created.token)).active).toBe(false);
    await expectRpcError(t.admin.revokeAccessToken({ id: created.accessToken!.id }), Code.NotFound, "invalid_request", /not found/);
    expect(await names("rfc7009")).toEqual([]);
    await t.admin.createAccessToken({ clientId: "rfc7009", name: "revoked elsewhere" });
  });

  it("deleting the client ends its named tokens and drops their records", async () => {
    await t.admin.createClient({ id: "doomed" });
    const created = await t.admin.createAccessToken({ clientId: "doomed", name: "ci" });
    await t.admin.deleteClient({ id: "doomed" });
    expect((await introspect(created.token)).active).toBe(false);
    expect(await names("doomed")).toEqual([]);
    expect([...(await t.server.domain.store.hashEntries(storeKeys.accessTokens())).values()].join()).not.toContain("doomed");
  });

  it("a token past its expiry drops out of the list and out of the store", async () => {
    await t.admin.createClient({ id: "short-lived" });
    const created = await t.admin.createAccessToken({ clientId: "short-lived", name: "brief", lifetimeSeconds: 60n });
    expect(await names("short-lived")).toEqual(["brief"]);
    t.clock.advance(60_000);
    expect(await names("short-lived")).toEqual([]);
    expect(await t.server.domain.store.hashGet(storeKeys.accessTokens(), created.accessToken!.id)).toBeNull();
    await expectRpcError(t.admin.revokeAccessToken({ id: created.accessToken!.id }), Code.NotFound, "invalid_request", /not found/);
    // Its name is free again.
    await t.admin.createAccessToken({ clientId: "short-lived", name: "brief" });
  });

  it("a name is unique among the client's live named tokens, not across clients", async () => {
    await t.admin.createClient({ id: "uniq-a" });
    await t.admin.createClient({ id: "uniq-b" });
    await t.admin.createAccessToken({ clientId: "uniq-a", name: "deploy" });
    await expectRpcError(t.admin.createAccessToken({ clientId: "uniq-a", name: "deploy" }), Code.AlreadyExists, "invalid_request", /already exists/);
    await t.admin.createAccessToken({ clientId: "uniq-b", name: "deploy" });
  });

  it("of concurrent creates with one name for one client, exactly one succeeds", async () => {
    await t.admin.createClient({ id: "racer" });
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => t.admin.createAccessToken({ clientId: "racer", name: "race" })));
    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
    for (const outcome of outcomes) if (outcome.status === "rejected") expect(String(outcome.reason)).toMatch(/already_exists|already exists/);
    expect(await names("racer")).toEqual(["race"]);
  });

  it("a revoked token's name is free again", async () => {
    await t.admin.createClient({ id: "reuse" });
    const first = await t.admin.createAccessToken({ clientId: "reuse", name: "n" });
    await t.admin.revokeAccessToken({ id: first.accessToken!.id });
    await t.admin.createAccessToken({ clientId: "reuse", name: "n" });
  });

  it.each([
    ["an empty name", { name: "" }, Code.InvalidArgument, "invalid_request", /name/],
    ["a name of only spaces", { name: "   " }, Code.InvalidArgument, "invalid_request", /name/],
    ["a name over 100 characters", { name: "n".repeat(101) }, Code.InvalidArgument, "invalid_request", /name/],
    ["a name with a control character", { name: "a\nb" }, Code.InvalidArgument, "invalid_request", /name/],
    ["a scope the client does not hold", { scopes: ["reports:read", "admin:all"] }, Code.PermissionDenied, "invalid_scope", /admin:all/],
    ["a malformed scope", { scopes: ["bad scope"] }, Code.InvalidArgument, "invalid_scope", /malformed/],
    ["a lifetime above the tenant's maximum", { lifetimeSeconds: 601n }, Code.InvalidArgument, "invalid_request", /lifetime_seconds must be between 1 and 600/],
    ["a negative lifetime", { lifetimeSeconds: -1n }, Code.InvalidArgument, "invalid_request", /lifetime_seconds/],
    ["an unknown client", { clientId: "nobody" }, Code.NotFound, "invalid_request", /client "nobody" not found/],
    ["no client", { clientId: "" }, Code.NotFound, "invalid_request", /not found/],
  ])("%s: refused, and nothing is listed", async (_case, fields, code, oauthError, message) => {
    const before = await names();
    await expectRpcError(t.admin.createAccessToken({ clientId: reporting.id, name: "valid", ...fields }), code, oauthError, message);
    expect(await names()).toEqual(before);
  });

  it.each([
    ["an unknown id", "no-such-jti"],
    ["an empty id", ""],
  ])("revoking %s: NotFound", async (_case, id) => {
    await expectRpcError(t.admin.revokeAccessToken({ id }), Code.NotFound, "invalid_request", /not found/);
  });

  it("a client's ordinary tokens are not listed and cannot be revoked by id here", async () => {
    const token = (await t.tokens.issueClientToken({}, { headers: basic(reporting.id, reporting.secret) })).accessToken;
    const jti = decodeJwt(token).payload.jti as string;
    await expectRpcError(t.admin.revokeAccessToken({ id: jti }), Code.NotFound, "invalid_request", /not found/);
    expect((await introspect(token)).active).toBe(true);
  });

  it("without tokensmith:admin: PermissionDenied on every named-token RPC, and nothing is created", async () => {
    const headers = bearer((await t.tokens.issueClientToken({}, { headers: basic(reporting.id, reporting.secret) })).accessToken);
    const created = await t.admin.createAccessToken({ clientId: reporting.id, name: "victim" });
    await expectRpcError(t.rawAdmin.createAccessToken({ clientId: reporting.id, name: "sneaky" }, { headers }), Code.PermissionDenied, "insufficient_scope");
    await expectRpcError(t.rawAdmin.listAccessTokens({}, { headers }), Code.PermissionDenied, "insufficient_scope");
    await expectRpcError(t.rawAdmin.revokeAccessToken({ id: created.accessToken!.id }, { headers }), Code.PermissionDenied, "insufficient_scope");
    await expectRpcError(t.rawAdmin.listAccessTokens({}), Code.Unauthenticated, "invalid_client");
    expect(await names()).not.toContain("sneaky");
    expect((await introspect(created.token)).active).toBe(true);
  });

  it("tenants are isolated: another tenant neither sees, revokes nor issues for this tenant's tokens", async () => {
    const base = t.server.url.replace(/\/$/, "");
    const transport = createConnectTransport({ baseUrl: `${base}/t/declared`, httpVersion: "1.1" });
    const tenantTokens = tokenClient(transport);
    const tenantAdmin = createClient(AdminService, transport);
    const headers = bearer((await tenantTokens.issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: basic(declaredAdmin.id, declaredAdmin.secret) })).accessToken);

    await t.admin.createClient({ id: "default-only" });
    const ours = await t.admin.createAccessToken({ clientId: reporting.id, name: "default tenant's" });
    await expectRpcError(tenantAdmin.createAccessToken({ clientId: "default-only", name: "x" }, { headers }), Code.NotFound, "invalid_request");
    await expectRpcError(tenantAdmin.revokeAccessToken({ id: ours.accessToken!.id }, { headers }), Code.NotFound, "invalid_request");
    expect((await introspect(ours.token)).active).toBe(true);

    // The tenant's own client of the same id: its named token is the tenant's, issued by the tenant's issuer.
    const theirs = await tenantAdmin.createAccessToken({ clientId: reporting.id, name: "tenant's" }, { headers });
    expect(decodeJwt(theirs.token).payload.iss).toBe(`${t.server.domain.issuer}/t/declared`);
    expect((await tenantAdmin.listAccessTokens({}, { headers })).accessTokens.map((info) => info.name)).toEqual(["tenant's"]);
    expect(await names()).not.toContain("tenant's");
    await expectRpcError(t.admin.revokeAccessToken({ id: theirs.accessToken!.id }), Code.NotFound, "invalid_request");
    await tenantAdmin.revokeAccessToken({ id: theirs.accessToken!.id }, { headers });
    expect((await tenantAdmin.listAccessTokens({}, { headers })).accessTokens).toEqual([]);
  });
});

describe("named access tokens across two instances on one Redis, and at a verifier", () => {
  const instances = useTwoInstancesOnRedis({ admin, clients: [resourceServer], protocol: "connect" });

  it("created on A, listed on B; revoked on B, inactive on A and refused by a verifier following A", async () => {
    const { a, b } = instances();
    await a.admin.createClient({ id: "partner", scopes: ["orders:read"], audiences: ["orders"] });
    const created = await a.admin.createAccessToken({ clientId: "partner", name: "partner feed" });
    expect((await b.admin.listAccessTokens({ clientId: "partner" })).accessTokens.map((info) => info.id)).toEqual([created.accessToken!.id]);

    const verifier = createVerifier({ baseUrl: a.server.url, issuer: "http://tokensmith.test", audience: "orders", clientId: resourceServer.id, clientSecret: resourceServer.secret });
    try {
      await verifier.ready();
      expect(await verifier.verify(created.token)).toMatchObject({ active: true });
      await b.admin.revokeAccessToken({ id: created.accessToken!.id });
      const introspectOnA = await a.tokens.introspect({ token: created.token }, { headers: basic(resourceServer.id, resourceServer.secret) });
      expect(introspectOnA.active).toBe(false);
      await eventually(async () => (await verifier.verify(created.token)).active === false);
      expect((await a.admin.listAccessTokens({ clientId: "partner" })).accessTokens).toEqual([]);
    } finally {
      await verifier.close();
    }
  });
});
