import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Source } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { generateSecret, hasValidChecksum, hashSecret } from "../../src/domain/secret-format.js";
import { ADMIN_SCOPE, BACKENDS, apiKeyAuthorization, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/** AdminService: API keys. The key is shown once; grants issued with it follow its current settings. */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const configKey = generateSecret("api_key");

describe.each(BACKENDS)("AdminService API keys on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, {
      admin,
      clients: [resourceServer],
      config: { apiKeys: [{ name: "config-backend", keyHash: hashSecret(configKey), scopes: ["passkey:read"] }] },
    });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const issueGrant = (key: string, grants: string[], username = "alice") =>
    t.tokens.issueGrant({ username, grants }, { headers: apiKeyAuthorization(key) });
  const introspect = (token: string) => t.tokens.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) });

  describe("CreateApiKey", () => {
    it("returns the key once; the key issues grants for its scopes, named after the key", async () => {
      const created = await t.admin.createApiKey({ name: "passkeys", scopes: ["passkey:read", "passkey:write"] });
      expect(hasValidChecksum(created.key, "api_key")).toBe(true);
      expect(created.apiKey).toMatchObject({
        name: "passkeys",
        scopes: ["passkey:read", "passkey:write"],
        grantLifetimeSeconds: 30n,
        source: Source.STORE,
        keyPrefix: `${created.key.slice(0, 11)}…`,
      });

      const grant = await issueGrant(created.key, ["passkey:read"]);
      expect(grant).toMatchObject({ expiresIn: 30n, grants: ["passkey:read"] });
      expect(await introspect(grant.token)).toMatchObject({ active: true, clientId: "passkeys", username: "alice", scopes: ["passkey:read"] });
      await expectRpcError(issueGrant(created.key, ["orders:read"]), Code.PermissionDenied, "invalid_scope");
    });

    it("grant_lifetime_seconds sets how long its grants live", async () => {
      const created = await t.admin.createApiKey({ name: "long-grants", scopes: ["passkey:read"], grantLifetimeSeconds: 300n });
      expect((await issueGrant(created.key, ["passkey:read"])).expiresIn).toBe(300n);
    });

    it.each([
      ["a key created through the API", "dup-key"],
      ["a key declared in the config file", "config-backend"],
    ])("a name already taken by %s: AlreadyExists", async (_case, name) => {
      if (name === "dup-key") await t.admin.createApiKey({ name, scopes: ["a:b"] });
      await expectRpcError(t.admin.createApiKey({ name, scopes: ["a:b"] }), Code.AlreadyExists, "invalid_request", `API key "${name}" already exists`);
    });

    it.each<[string, { name: string; scopes: string[]; grantLifetimeSeconds?: bigint }, string, RegExp]>([
      ["a name with a space", { name: "bad name", scopes: ["a:b"] }, "invalid_request", /name must be/],
      ["an empty name", { name: "", scopes: ["a:b"] }, "invalid_request", /name must be/],
      ["no scopes", { name: "no-scopes", scopes: [] }, "invalid_request", /at least one scope/],
      ["a malformed scope", { name: "bad-scope", scopes: ["a b"] }, "invalid_scope", /malformed scope/],
      ["a grant lifetime above 300", { name: "bad-lifetime", scopes: ["a:b"], grantLifetimeSeconds: 301n }, "invalid_request", /between 1 and 300/],
      ["a negative grant lifetime", { name: "bad-lifetime", scopes: ["a:b"], grantLifetimeSeconds: -5n }, "invalid_request", /between 1 and 300/],
    ])("%s: InvalidArgument", async (_case, request, oauthError, message) => {
      await expectRpcError(t.admin.createApiKey(request), Code.InvalidArgument, oauthError, message);
    });
  });

  it("ListApiKeys: config and stored keys by name, with sources, a prefix for stored ones, never a key or hash; paged", async () => {
    await t.admin.createApiKey({ name: "list-b", scopes: ["a:b"] });
    await t.admin.createApiKey({ name: "list-a", scopes: ["a:b"] });
    const { apiKeys } = await t.admin.listApiKeys({});
    const names = apiKeys.map((key) => key.name);
    expect(names).toEqual([...names].sort());
    expect(apiKeys.find((key) => key.name === "config-backend")).toMatchObject({ source: Source.CONFIG, keyPrefix: "", scopes: ["passkey:read"] });
    expect(apiKeys.find((key) => key.name === "list-a")).toMatchObject({ source: Source.STORE, keyPrefix: expect.stringMatching(/^tks_ak_\w{4}…$/) });

    const paged: string[] = [];
    let pageToken = "";
    do {
      const page = await t.admin.listApiKeys({ pageSize: 2, pageToken });
      expect(page.apiKeys.length).toBeLessThanOrEqual(2);
      paged.push(...page.apiKeys.map((key) => key.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(paged).toEqual(names);
  });

  // Issue 21, item 4: the console shows them next to the grant lifetime field.
  it("ListApiKeys tells the grant lifetimes: the default and the longest", async () => {
    expect(await t.admin.listApiKeys({ pageSize: 1 })).toMatchObject({ defaultGrantLifetimeSeconds: 30n, maxGrantLifetimeSeconds: 300n });
  });

  describe("UpdateApiKey", () => {
    it("scopes and grant lifetime: grants follow at once on this instance", async () => {
      const { key } = await t.admin.createApiKey({ name: "update-me", scopes: ["passkey:read"] });
      await issueGrant(key, ["passkey:read"]);
      const { apiKey } = await t.admin.updateApiKey({
        apiKey: { name: "update-me", scopes: ["passkey:write"], grantLifetimeSeconds: 90n },
        updateMask: { paths: ["scopes", "grant_lifetime_seconds"] },
      });
      expect(apiKey).toMatchObject({ scopes: ["passkey:write"], grantLifetimeSeconds: 90n });
      expect(await issueGrant(key, ["passkey:write"])).toMatchObject({ expiresIn: 90n, grants: ["passkey:write"] });
      await expectRpcError(issueGrant(key, ["passkey:read"]), Code.PermissionDenied, "invalid_scope");
    });

    it("only the fields in update_mask change", async () => {
      const { key } = await t.admin.createApiKey({ name: "update-mask", scopes: ["passkey:read"], grantLifetimeSeconds: 60n });
      await t.admin.updateApiKey({ apiKey: { name: "update-mask", scopes: [], grantLifetimeSeconds: 120n }, updateMask: { paths: ["grant_lifetime_seconds"] } });
      expect(await issueGrant(key, ["passkey:read"])).toMatchObject({ expiresIn: 120n });
    });

    it.each<[string, { name: string; scopes?: string[]; lifetime?: bigint; paths: string[] }, Code, RegExp]>([
      ["a grant lifetime above the grants' cap", { name: "update-me", lifetime: 301n, paths: ["grant_lifetime_seconds"] }, Code.InvalidArgument, /grant_lifetime_seconds must be between 1 and 300/],
      ["an empty update_mask", { name: "update-me", paths: [] }, Code.InvalidArgument, /at least one field/],
      ["a path that cannot be updated", { name: "update-me", paths: ["name"] }, Code.InvalidArgument, /cannot be updated: name/],
      ["no scopes left", { name: "update-me", scopes: [], paths: ["scopes"] }, Code.InvalidArgument, /at least one scope/],
      ["an unknown key", { name: "nobody", scopes: ["a:b"], paths: ["scopes"] }, Code.NotFound, /not found/],
      ["a config-declared key", { name: "config-backend", scopes: ["a:b"], paths: ["scopes"] }, Code.FailedPrecondition, /read-only/],
    ])("%s: refused", async (_case, { name, scopes, lifetime, paths }, code, message) => {
      const apiKey = { name, scopes: scopes ?? [], grantLifetimeSeconds: lifetime ?? 0n };
      await expectRpcError(t.admin.updateApiKey({ apiKey, updateMask: { paths } }), code, "invalid_request", message);
    });
  });

  describe("DeleteApiKey", () => {
    it("IssueGrant with the deleted key: Unauthenticated; grants already issued stay single-use grants until they expire", async () => {
      const { key } = await t.admin.createApiKey({ name: "delete-me", scopes: ["passkey:read"] });
      await issueGrant(key, ["passkey:read"]);
      await t.admin.deleteApiKey({ name: "delete-me" });
      await expectRpcError(issueGrant(key, ["passkey:read"]), Code.Unauthenticated, "invalid_client");
      expect((await t.admin.listApiKeys({})).apiKeys.map((apiKey) => apiKey.name)).not.toContain("delete-me");
      await expectRpcError(t.admin.deleteApiKey({ name: "delete-me" }), Code.NotFound, "invalid_request");
    });

    it("a new key under a deleted key's name gets none of its grants: it can neither read, consume nor revoke them", async () => {
      const old = await t.admin.createApiKey({ name: "reused-name", scopes: ["passkey:read"] });
      const grant = (await issueGrant(old.key, ["passkey:read"])).token;
      await t.admin.deleteApiKey({ name: "reused-name" });
      const successor = await t.admin.createApiKey({ name: "reused-name", scopes: ["passkey:read"] });
      const asSuccessor = { headers: apiKeyAuthorization(successor.key) };

      expect((await t.tokens.introspect({ token: grant }, asSuccessor)).active).toBe(false);
      expect((await t.tokens.introspect({ token: grant, consume: true }, asSuccessor)).active).toBe(false);
      await t.tokens.revoke({ token: grant }, asSuccessor);
      expect(await introspect(grant)).toMatchObject({ active: true, clientId: "reused-name", username: "alice" });

      const own = (await issueGrant(successor.key, ["passkey:read"])).token;
      expect((await t.tokens.introspect({ token: own, consume: true }, asSuccessor)).active).toBe(true);
    });

    it("a config-declared key: FailedPrecondition, and the key keeps working", async () => {
      await expectRpcError(t.admin.deleteApiKey({ name: "config-backend" }), Code.FailedPrecondition, "invalid_request", /read-only/);
      await issueGrant(configKey, ["passkey:read"]);
    });
  });
});

describe.each(BACKENDS)("AdminService API key names on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  // The name check and the write are separate store operations (keys are filed by hash, not name):
  // concurrent creates (one instance or several) all pass the check. Duplicate names then also
  // break ListApiKeys paging, which pages by name.
  it("concurrent creates with one name: exactly one succeeds", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => t.server.domain.administration.createApiKey({ name: "racy", scopes: ["a:b"], grantLifetimeSeconds: 0 })),
    );
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    const { apiKeys } = await t.admin.listApiKeys({});
    expect(apiKeys.filter((key) => key.name === "racy")).toHaveLength(1);
  });
});
