import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_SCOPE, BACKENDS, bearer, startAdminServer, type AdminClient, type AdminTestServer } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Every AdminService RPC needs `authorization: Bearer <access token>` whose
 * token is valid, unexpired, unrevoked and carries `tokensmith:admin`.
 */

const admin = testClient("admin", [ADMIN_SCOPE, "token:introspect"]);
const orders = testClient("orders", ["orders:read"]);
/** The admin client has no lifetime of its own: the test config's defaultTokenLifetimeSeconds. */
const ADMIN_TOKEN_LIFETIME_SECONDS = 300;

type Headers = Record<string, string>;
const RPCS: Array<[name: string, call: (client: AdminClient, headers: Headers) => Promise<unknown>]> = [
  ["CreateClient", (c, headers) => c.createClient({ id: "authz-new", scopes: ["a:b"] }, { headers })],
  ["GetClient", (c, headers) => c.getClient({ id: "admin" }, { headers })],
  ["ListClients", (c, headers) => c.listClients({}, { headers })],
  ["UpdateClient", (c, headers) => c.updateClient({ client: { id: "authz-missing", scopes: [] }, updateMask: { paths: ["scopes"] } }, { headers })],
  ["RotateClientSecret", (c, headers) => c.rotateClientSecret({ id: "authz-missing" }, { headers })],
  ["DeleteClient", (c, headers) => c.deleteClient({ id: "authz-missing" }, { headers })],
  ["RevokeClientTokens", (c, headers) => c.revokeClientTokens({ id: "authz-missing" }, { headers })],
  ["CreateApiKey", (c, headers) => c.createApiKey({ name: "authz-key", scopes: ["a:b"] }, { headers })],
  ["ListApiKeys", (c, headers) => c.listApiKeys({}, { headers })],
  ["UpdateApiKey", (c, headers) => c.updateApiKey({ apiKey: { name: "authz-missing", scopes: ["a:b"] }, updateMask: { paths: ["scopes"] } }, { headers })],
  ["DeleteApiKey", (c, headers) => c.deleteApiKey({ name: "authz-missing" }, { headers })],
  ["ListSigningKeys", (c, headers) => c.listSigningKeys({}, { headers })],
  ["RotateSigningKey", (c, headers) => c.rotateSigningKey({}, { headers })],
  ["CreateAccessToken", (c, headers) => c.createAccessToken({ clientId: "orders", name: "authz-token" }, { headers })],
  ["ListAccessTokens", (c, headers) => c.listAccessTokens({}, { headers })],
  ["RevokeAccessToken", (c, headers) => c.revokeAccessToken({ id: "authz-missing" }, { headers })],
];

describe.each(BACKENDS)("AdminService authorization on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, clients: [orders] });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const tokenOf = async (client: typeof admin, scopes: string[] = []) =>
    (await t.tokens.issueClientToken({ scopes }, { headers: basic(client.id, client.secret) })).accessToken;

  it("the admin client's token with tokensmith:admin passes on every RPC (the control for the refusals below)", async () => {
    const headers = bearer(await tokenOf(admin, [ADMIN_SCOPE]));
    for (const [name, call] of RPCS) {
      const outcome = await call(t.rawAdmin, headers).then(
        () => "ok",
        (error: unknown) => Code[ConnectError.from(error).code],
      );
      expect([name, outcome]).not.toEqual([name, "Unauthenticated"]);
      expect([name, outcome]).not.toEqual([name, "PermissionDenied"]);
    }
  });

  describe.each(RPCS)("%s", (_name, call) => {
    it("without authorization: Unauthenticated, invalid_client", async () => {
      await expectRpcError(call(t.rawAdmin, {}), Code.Unauthenticated, "invalid_client", /Bearer/);
    });

    it("with the admin client's Basic credentials instead of a Bearer token: Unauthenticated, invalid_client", async () => {
      await expectRpcError(call(t.rawAdmin, basic(admin.id, admin.secret)), Code.Unauthenticated, "invalid_client", /Bearer/);
    });

    it("with a Bearer that is not a token: Unauthenticated, invalid_client", async () => {
      await expectRpcError(call(t.rawAdmin, bearer("not-a-jwt")), Code.Unauthenticated, "invalid_client");
    });

    it("with another client's token (no tokensmith:admin): PermissionDenied, insufficient_scope", async () => {
      await expectRpcError(call(t.rawAdmin, bearer(await tokenOf(orders))), Code.PermissionDenied, "insufficient_scope", ADMIN_SCOPE);
    });

    it("with the admin client's token asked for without tokensmith:admin: PermissionDenied, insufficient_scope", async () => {
      const token = await tokenOf(admin, ["token:introspect"]);
      await expectRpcError(call(t.rawAdmin, bearer(token)), Code.PermissionDenied, "insufficient_scope", ADMIN_SCOPE);
    });

    it("with an expired admin token: Unauthenticated, invalid_client", async () => {
      const token = await tokenOf(admin, [ADMIN_SCOPE]);
      t.clock.advance((ADMIN_TOKEN_LIFETIME_SECONDS + 1) * 1000);
      await expectRpcError(call(t.rawAdmin, bearer(token)), Code.Unauthenticated, "invalid_client", /expired/);
    });

    it("with a revoked admin token: Unauthenticated, invalid_client", async () => {
      const token = await tokenOf(admin, [ADMIN_SCOPE]);
      await t.tokens.revoke({ token }, { headers: basic(admin.id, admin.secret) });
      await expectRpcError(call(t.rawAdmin, bearer(token)), Code.Unauthenticated, "invalid_client", /revoked/);
    });
  });
});
