import { generateKeyPairSync } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService, type AuditEvent } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { hashSecret } from "../../src/domain/secret-format.js";
import { storeKeys } from "../../src/store/store.js";
import { ADMIN_SCOPE, bearer, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { memoryBackend, redisBackend, type Backend } from "../support/backends.js";
import { capturedLog } from "../support/captured-log.js";
import { postFormFrom } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient, tokenClient } from "../support/tokensmith.js";
import { eventually } from "../support/eventually.js";

/**
 * Issue 21 item 3, the audit trail over the AdminService (Connect, a real
 * server): every change and every lockout is recorded with its actor, target,
 * peer and request id, in the tenant's stream and a log line, and no secret
 * is in either; ListAuditEvents pages, filters and refuses bad input; only a
 * tenant's admins (and platform administrators) read it, and only its own.
 */

const TENANTS_SCOPE = "tokensmith:tenants";
const admin = testClient("audit-admin", [ADMIN_SCOPE]);
const platform = testClient("platform", [TENANTS_SCOPE]);
const reader = testClient("reader", ["orders:read"]);
const limits = { failuresPerPeer: 3, failuresPerSubjectAndPeer: 2, windowSeconds: 60, introspectionsPerSecond: 1_000 };
const publicJwk = () => generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });

const backends: Array<[string, () => Backend & { redis?: () => { command(args: string[]): Promise<unknown> } }]> = [
  ["memory", memoryBackend],
  ["redis standalone", redisBackend],
];

describe.each(backends)("AdminService audit trail on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  const log = capturedLog("info");
  let t: AdminTestServer;
  /** Every secret, key and token the tests were given: none may be in the trail or the log. */
  const secrets: string[] = [admin.secret, platform.secret, reader.secret];
  let requests = 0;
  /** A call's options with a fresh X-Request-Id (returned to assert on). */
  const withRequestId = (headers: Record<string, string> = {}) => {
    const requestId = `audit-test-${++requests}`;
    return { requestId, options: { headers: { ...headers, "x-request-id": requestId } } };
  };

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, clients: [platform, reader], logger: log.logger, protocol: "connect", config: { rateLimits: limits } });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const transportAt = (tenant?: string) =>
    createConnectTransport({ baseUrl: tenant === undefined ? t.server.url : `${t.server.url.replace(/\/$/, "")}/t/${tenant}`, httpVersion: "1.1" });
  const adminAt = (tenant?: string) => createClient(AdminService, transportAt(tenant));
  const tokenOf = async (client: { id: string; secret: string }, scopes: string[]) => {
    const token = (await t.tokens.issueClientToken({ scopes }, { headers: basic(client.id, client.secret) })).accessToken;
    secrets.push(token);
    return token;
  };
  const newest = async (query: Parameters<AdminTestServer["admin"]["listAuditEvents"]>[0] = {}) => (await t.admin.listAuditEvents({ pageSize: 1, ...query })).events[0];
  const expectRecorded = (event: AuditEvent | undefined, expected: { kind: string; target: string; requestId: string; details?: Record<string, string> }) =>
    expect(event).toMatchObject({
      kind: expected.kind,
      target: expected.target,
      tenant: "default",
      actorClientId: admin.id,
      actorTenant: "default",
      peer: expect.stringMatching(/127\.0\.0\.1$/),
      requestId: expected.requestId,
      ...(expected.details ? { details: expected.details } : {}),
    });

  it("records each change to clients, API keys, signing keys and trusted issuers with actor, target, peer and request id", async () => {
    let call = withRequestId();
    const created = await t.admin.createClient({ id: "orders", scopes: ["orders:read"] }, call.options);
    secrets.push(created.clientSecret);
    expectRecorded(await newest(), { kind: "client.created", target: "orders", requestId: call.requestId, details: { scopes: "orders:read" } });

    call = withRequestId();
    await t.admin.updateClient({ client: { id: "orders", scopes: ["orders:write"], audiences: ["api"] }, updateMask: { paths: ["scopes", "audiences"] } }, call.options);
    expectRecorded(await newest(), { kind: "client.updated", target: "orders", requestId: call.requestId, details: { fields: "scopes,audiences" } });

    call = withRequestId();
    const rotated = await t.admin.rotateClientSecret({ id: "orders" }, call.options);
    secrets.push(rotated.clientSecret);
    expectRecorded(await newest(), { kind: "client.secret_rotated", target: "orders", requestId: call.requestId });

    call = withRequestId();
    await t.admin.revokeClientTokens({ id: "orders" }, call.options);
    expectRecorded(await newest(), { kind: "tokens.revoked", target: "orders", requestId: call.requestId });

    call = withRequestId();
    await t.admin.deleteClient({ id: "orders" }, call.options);
    expectRecorded(await newest(), { kind: "client.deleted", target: "orders", requestId: call.requestId });

    call = withRequestId();
    const key = await t.admin.createApiKey({ name: "backend", scopes: ["passkey:read"] }, call.options);
    secrets.push(key.key, hashSecret(key.key));
    expectRecorded(await newest(), { kind: "api_key.created", target: "backend", requestId: call.requestId, details: { scopes: "passkey:read" } });

    call = withRequestId();
    await t.admin.updateApiKey({ apiKey: { name: "backend", scopes: ["passkey:write"] }, updateMask: { paths: ["scopes"] } }, call.options);
    expectRecorded(await newest(), { kind: "api_key.updated", target: "backend", requestId: call.requestId, details: { fields: "scopes" } });

    call = withRequestId();
    await t.admin.deleteApiKey({ name: "backend" }, call.options);
    expectRecorded(await newest(), { kind: "api_key.deleted", target: "backend", requestId: call.requestId });

    call = withRequestId();
    const rotatedKey = await t.admin.rotateSigningKey({}, call.options);
    expectRecorded(await newest(), { kind: "signing_key.rotated", target: rotatedKey.key!.kid, requestId: call.requestId });

    call = withRequestId();
    await t.admin.createTrustedIssuer(
      { issuer: "https://ci.example", jwksJson: JSON.stringify({ keys: [publicJwk()] }), audiences: ["tokensmith"], subjectMappings: [{ subject: "repo:*", clientId: "deployer" }] },
      call.options,
    );
    expectRecorded(await newest(), { kind: "trusted_issuer.created", target: "https://ci.example", requestId: call.requestId });

    call = withRequestId();
    await t.admin.deleteTrustedIssuer({ issuer: "https://ci.example" }, call.options);
    expectRecorded(await newest(), { kind: "trusted_issuer.deleted", target: "https://ci.example", requestId: call.requestId });
  });

  it("records nothing for a change that failed", async () => {
    const before = await newest();
    await expectRpcError(t.admin.deleteClient({ id: "no-such-client" }), Code.NotFound, "invalid_request");
    await expectRpcError(t.admin.createClient({ id: "bad id!" }), Code.InvalidArgument, "invalid_request");
    expect((await newest())!.id).toBe(before!.id);
  });

  it("records tenant changes in the default tenant's trail, and a platform administrator's change in a tenant there, with both tenants", async () => {
    const asPlatform = { authorization: `Bearer ${await tokenOf(platform, [TENANTS_SCOPE])}` };
    let call = withRequestId(asPlatform);
    const acme = await adminAt().createTenant({ id: "acme", adminClientId: "acme-admin" }, call.options);
    secrets.push(acme.adminClientSecret);
    const creation = call.requestId;
    expect(await newest({ kind: "tenant.created" })).toMatchObject({
      target: "acme",
      tenant: "default",
      actorClientId: "platform",
      actorTenant: "default",
      requestId: call.requestId,
      details: { admin_client_id: "acme-admin" },
    });
    call = withRequestId(asPlatform);
    await adminAt().updateTenant({ tenant: { id: "acme", displayName: "ACME" }, updateMask: { paths: ["display_name"] } }, call.options);
    expect(await newest({ kind: "tenant.updated" })).toMatchObject({ target: "acme", requestId: call.requestId, details: { fields: "display_name" } });

    call = withRequestId(asPlatform);
    const inAcme = await adminAt("acme").createClient({ id: "acme-orders" }, call.options);
    secrets.push(inAcme.clientSecret);
    // acme's own admin, with a token from acme's issuer.
    const acmeToken = (await tokenClient(transportAt("acme")).issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: basic("acme-admin", acme.adminClientSecret) })).accessToken;
    secrets.push(acmeToken);
    const acmeEvents = (await adminAt("acme").listAuditEvents({}, { headers: bearer(acmeToken) })).events;
    expect(acmeEvents.map((event) => [event.kind, event.target, event.tenant, event.actorClientId, event.actorTenant, event.requestId])).toEqual([
      ["client.created", "acme-orders", "acme", "platform", "default", call.requestId],
      // The first admin client, made by CreateTenant, is in the new tenant's own trail too.
      ["client.created", "acme-admin", "acme", "platform", "default", creation],
    ]);
    expect(acmeEvents[1]!.details).toEqual({ scopes: ADMIN_SCOPE });
    // Tenant isolation: acme's event is not in the default tenant's trail, and the default's are not in acme's.
    expect((await t.admin.listAuditEvents({ target: "acme-orders" })).events).toEqual([]);
    expect(acmeEvents.some((event) => event.target === "orders")).toBe(false);

    call = withRequestId(asPlatform);
    await adminAt().deleteTenant({ id: "acme" }, call.options);
    expect(await newest({ kind: "tenant.deleted" })).toMatchObject({ target: "acme", tenant: "default", actorClientId: "platform", requestId: call.requestId });
  });

  it("records a peer locked out by the failed authentication limits, once, with the peer and the client id it tried", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < limits.failuresPerSubjectAndPeer + 2; i += 1) {
      const wrong = `wrong-secret-${i}`;
      secrets.push(wrong);
      statuses.push((await postFormFrom(t.server.url, "/oauth2/token", { grant_type: "client_credentials", client_id: reader.id, client_secret: wrong }, { from: "127.0.0.9" })).status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    // Recorded off the request's path: it may land just after the 429.
    await eventually(async () => (await t.admin.listAuditEvents({ kind: "peer.locked_out" })).events.length > 0, 2_000, 20);
    const lockouts = (await t.admin.listAuditEvents({ kind: "peer.locked_out" })).events;
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]).toMatchObject({ target: "127.0.0.9", peer: "127.0.0.9", actorClientId: "", details: { limit: "client", client_id: reader.id, window_seconds: "60" } });
  });

  it("pages newest first and filters by actor, target, kind and time range", async () => {
    const marker = await t.admin.createClient({ id: "page-a" });
    secrets.push(marker.clientSecret);
    t.clock.advance(5);
    for (const id of ["page-b", "page-c"]) secrets.push((await t.admin.createClient({ id })).clientSecret);
    const first = await t.admin.listAuditEvents({ pageSize: 2, kind: "client.created", actor: admin.id });
    expect(first.events.map((event) => event.target)).toEqual(["page-c", "page-b"]);
    const second = await t.admin.listAuditEvents({ pageSize: 2, kind: "client.created", actor: admin.id, pageToken: first.nextPageToken });
    expect(second.events.map((event) => event.target)).toEqual(["page-a", "orders"]);
    expect((await t.admin.listAuditEvents({ target: "page-b" })).events.map((event) => event.kind)).toEqual(["client.created"]);
    expect((await t.admin.listAuditEvents({ actor: "nobody" })).events).toEqual([]);
    const a = (await t.admin.listAuditEvents({ target: "page-a" })).events[0]!;
    const c = (await t.admin.listAuditEvents({ target: "page-c" })).events[0]!;
    const since = (await t.admin.listAuditEvents({ startTime: c.eventTime, kind: "client.created" })).events.map((event) => event.target);
    expect(since).toContain("page-c");
    expect(since).not.toContain("orders");
    const until = (await t.admin.listAuditEvents({ endTime: a.eventTime, kind: "client.created" })).events.map((event) => event.target);
    expect(until).toContain("page-a");
    expect(until).not.toContain("page-c");
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["a malformed page_token", { pageToken: "not a token" }, /page_token is malformed/],
    ["a negative page_size", { pageSize: -5 }, /page_size must not be negative/],
    ["an unknown kind", { kind: "client.vanished" }, /kind must be one of/],
    ["an end_time before the start_time", { startTime: timestampFromMs(2_000_000), endTime: timestampFromMs(1_000_000) }, /end_time is before start_time/],
    // Past what a Date holds (year 275760): no instant at all, not a store error.
    ["an end_time past any date", { endTime: { seconds: 10n ** 15n, nanos: 0 } }, /end_time is not a valid time/],
    ["a start_time past any date", { startTime: { seconds: -(10n ** 15n), nanos: 0 } }, /start_time is not a valid time/],
  ])("refuses %s with InvalidArgument", async (_case, request, message) => {
    await expectRpcError(t.admin.listAuditEvents(request), Code.InvalidArgument, "invalid_request", message);
  });

  it("is refused to a caller without a token or without tokensmith:admin, which is recorded as admin.denied", async () => {
    await expectRpcError(t.rawAdmin.listAuditEvents({}), Code.Unauthenticated, "invalid_client");
    const before = await newest();
    const call = withRequestId(bearer(await tokenOf(reader, ["orders:read"])));
    await expectRpcError(t.rawAdmin.listAuditEvents({}, call.options), Code.PermissionDenied, "insufficient_scope");
    // The refusal of a token in force is a security event; the call without a token above is not recorded.
    const denied = await newest();
    expect(denied!.id).not.toBe(before!.id);
    expect(denied).toMatchObject({
      kind: "admin.denied",
      target: "ListAuditEvents",
      actorClientId: reader.id,
      actorTenant: "default",
      requestId: call.requestId,
      details: { reason: expect.stringContaining(ADMIN_SCOPE) },
    });
    expect((await t.admin.listAuditEvents({ kind: "admin.denied" })).events).toHaveLength(1);
  });

  it("records admin.denied once per client and method per minute, the next one counting the repeats left out", async () => {
    const token = bearer(await tokenOf(reader, ["orders:read"]));
    const deniedOf = async (method: string) => (await t.admin.listAuditEvents({ kind: "admin.denied", target: method })).events;
    for (let call = 0; call < 5; call++) await expectRpcError(t.rawAdmin.deleteClient({ id: "orders" }, { headers: token }), Code.PermissionDenied, "insufficient_scope");
    const once = await deniedOf("DeleteClient");
    expect(once).toHaveLength(1);
    expect(once[0]!.details).not.toHaveProperty("suppressed");
    // Another method is another key: recorded although the first is held back.
    await expectRpcError(t.rawAdmin.getClient({ id: "orders" }, { headers: token }), Code.PermissionDenied, "insufficient_scope");
    expect(await deniedOf("GetClient")).toHaveLength(1);
    t.clock.advance(59_000);
    await expectRpcError(t.rawAdmin.deleteClient({ id: "orders" }, { headers: token }), Code.PermissionDenied, "insufficient_scope");
    expect(await deniedOf("DeleteClient")).toHaveLength(1);
    t.clock.advance(1_000);
    await expectRpcError(t.rawAdmin.deleteClient({ id: "orders" }, { headers: token }), Code.PermissionDenied, "insufficient_scope");
    const again = await deniedOf("DeleteClient");
    expect(again).toHaveLength(2);
    expect(again[0]).toMatchObject({ actorClientId: reader.id, details: { reason: expect.stringContaining(ADMIN_SCOPE), suppressed: "5" } });
    expect(log.matching(/^audit event$/).filter((line) => JSON.stringify(line).includes('"target":"DeleteClient"')).length).toBe(2);
  });

  it("a page size above the maximum is the maximum; the time of each event is when it was recorded", async () => {
    const page = await t.admin.listAuditEvents({ pageSize: 100_000 });
    expect(page.events.length).toBeGreaterThan(10);
    expect(page.events.length).toBeLessThanOrEqual(500);
    const times = page.events.map((event) => timestampMs(event.eventTime!));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });

  it("records a named access token's creation (client, name, scopes) and its revocation, never the token", async () => {
    await t.admin.createClient({ id: "reports", scopes: ["reports:read", "reports:write"] });
    let call = withRequestId();
    const created = await t.admin.createAccessToken({ clientId: "reports", name: "nightly export", scopes: ["reports:read"] }, call.options);
    secrets.push(created.token);
    const id = created.accessToken!.id;
    expectRecorded(await newest(), { kind: "access_token.created", target: id, requestId: call.requestId, details: { client_id: "reports", name: "nightly export", scopes: "reports:read" } });

    call = withRequestId();
    await t.admin.revokeAccessToken({ id }, call.options);
    expectRecorded(await newest(), { kind: "access_token.revoked", target: id, requestId: call.requestId, details: { client_id: "reports", name: "nightly export" } });
    expect((await t.admin.listAuditEvents({ kind: "access_token.created", target: id })).events).toHaveLength(1);
    await t.admin.deleteClient({ id: "reports" });
  });

  it("holds no secret, key, hash or token in the stored stream or the log lines", async () => {
    const raw =
      backend.name === "memory"
        ? JSON.stringify(await t.server.domain.store.streamReadBack(storeKeys.audit(), {}, 10_000))
        : JSON.stringify(await (backend as ReturnType<typeof redisBackend>).redis().command(["XRANGE", `${(t.server.domain.config.store as { keyPrefix: string }).keyPrefix}${storeKeys.audit()}`, "-", "+"]));
    expect(raw).toContain("client.created");
    expect(raw).toContain("peer.locked_out");
    const lines = JSON.stringify(log.matching(/^audit event$/));
    expect(lines).toContain("tenant.deleted");
    for (const secret of secrets) {
      expect(raw).not.toContain(secret);
      expect(lines).not.toContain(secret);
    }
    expect(raw).not.toMatch(/sha256\$/);
  });
});


describe("an audit event the store refuses (a real Redis whose audit stream key holds a string)", () => {
  const backend = redisBackend();
  const log = capturedLog("info");
  let t: AdminTestServer;
  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, logger: log.logger, protocol: "connect" });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  it("fails the call with Unavailable although the change stands, and the log line holds the event", async () => {
    const keyPrefix = (t.server.domain.config.store as { keyPrefix: string }).keyPrefix;
    await backend.redis().command(["SET", `${keyPrefix}${storeKeys.audit()}`, "not a stream"]);
    await expectRpcError(t.admin.createClient({ id: "unrecorded", scopes: ["orders:read"] }), Code.Unavailable, "temporarily_unavailable");
    // The change was made before the event: it stands, and an administrator sees it (and may delete it again).
    expect((await t.admin.getClient({ id: "unrecorded" })).client?.id).toBe("unrecorded");
    expect(log.matching(/^audit event$/).map((line) => (line.audit as { kind: string; target: string }).target)).toContain("unrecorded");
    // Once the store takes events again, the next change is recorded.
    await backend.redis().command(["DEL", `${keyPrefix}${storeKeys.audit()}`]);
    await t.admin.deleteClient({ id: "unrecorded" });
    expect((await t.admin.listAuditEvents({})).events.map((event) => `${event.kind} ${event.target}`)).toEqual(["client.deleted unrecorded"]);
  });
});
