import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_SCOPE, BACKENDS, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * The AdminService as curl reaches it: an admin token from POST /oauth2/token,
 * then Connect JSON over plain HTTP/1.1 (the README's examples).
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const orders = testClient("orders", ["orders:read"]);

describe.each(BACKENDS)("AdminService over HTTP JSON on %s", (_name, makeBackend) => {
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

  /** curl -s -u "$ID:$SECRET" -d grant_type=client_credentials -d scope=… $URL/oauth2/token */
  const oauthToken = async (client: typeof admin, scope: string) => {
    const response = await fetch(`${t.server.url}/oauth2/token`, {
      method: "POST",
      headers: { ...basic(client.id, client.secret), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  };
  /** curl -s -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '…' $URL/tokensmith.v1.AdminService/<Method> */
  const call = (method: string, body: object, authorization?: string) =>
    fetch(`${t.server.url}/tokensmith.v1.AdminService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });

  it("CreateClient, GetClient and ListClients with a Bearer token from /oauth2/token", async () => {
    const token = await oauthToken(admin, ADMIN_SCOPE);
    const created = await call("CreateClient", { id: "orders-api", scopes: ["orders:read"], tokenLifetimeSeconds: "120" }, `Bearer ${token}`);
    expect(created.status).toBe(200);
    const body = (await created.json()) as { client: Record<string, unknown>; clientSecret: string };
    expect(body.client).toMatchObject({ id: "orders-api", scopes: ["orders:read"], tokenLifetimeSeconds: "120", source: "SOURCE_STORE" });
    expect(body.clientSecret).toMatch(/^tks_cs_/);

    const got = (await (await call("GetClient", { id: "orders-api" }, `Bearer ${token}`)).json()) as { client: { id: string } };
    expect(got.client.id).toBe("orders-api");
    const listed = (await (await call("ListClients", { pageSize: 2 }, `Bearer ${token}`)).json()) as { clients: Array<{ id: string }>; nextPageToken?: string };
    expect(listed.clients.map((client) => client.id)).toEqual(["admin", "orders"]);
    expect(listed.nextPageToken).toBeTruthy();
  });

  it.each([
    ["no authorization", async () => undefined, 401, "unauthenticated", "invalid_client"],
    ["client credentials instead of a Bearer token", async () => basic(admin.id, admin.secret).authorization, 401, "unauthenticated", "invalid_client"],
    ["a token without tokensmith:admin", async () => `Bearer ${await oauthToken(orders, "orders:read")}`, 403, "permission_denied", "insufficient_scope"],
  ])("%s: refused with the HTTP status, Connect code and OAuth error", async (_case, authorization, status, code, oauthError) => {
    const response = await call("ListClients", {}, await authorization());
    expect(response.status).toBe(status);
    const body = (await response.json()) as { code: string; message: string; details: Array<{ type: string; debug?: { error?: string } }> };
    expect(body.code).toBe(code);
    expect(body.details[0]).toMatchObject({ type: "tokensmith.v1.OAuthErrorDetail", debug: { error: oauthError } });
  });
});
