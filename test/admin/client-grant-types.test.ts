import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ClientInfoSchema } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { updateMaskOf } from "../../src/rpc/admin-messages.js";
import { ADMIN_SCOPE, BACKENDS, useAdminServer } from "../support/admin.js";
import { httpGet, oauthErrorOf, postForm } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Issue 20, item 1: a client lists the grant types it may use, by their
 * RFC 7591 names (default: client_credentials only). Any other is
 * unauthorized_client (RFC 6749 §5.2): 400 at /oauth2/token, PermissionDenied
 * over the RPC.
 */

const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const admin = testClient("admin", [ADMIN_SCOPE]);


describe.each(BACKENDS)("grant types on %s", (_name, makeBackend) => {
  const exchanger = testClient("config-exchanger", ["orders:read"], { grantTypes: [TOKEN_EXCHANGE] });
  const t = useAdminServer(makeBackend, { admin, clients: [exchanger] });


  it("a client created without grant types may use client_credentials only; ClientInfo shows it", async () => {
    const created = await t().admin.createClient({ id: "default-grants" });
    expect(created.client!.grantTypes).toEqual(["client_credentials"]);
    expect((await t().admin.getClient({ id: "default-grants" })).client!.grantTypes).toEqual(["client_credentials"]);
    await t().tokens.issueClientToken({}, { headers: basic("default-grants", created.clientSecret) });
  });

  it("a client registered for token exchange only: client_credentials is PermissionDenied unauthorized_client, and 400 over HTTP", async () => {
    const created = await t().admin.createClient({ id: "exchange-only", grantTypes: [TOKEN_EXCHANGE] });
    expect(created.client!.grantTypes).toEqual([TOKEN_EXCHANGE]);
    await expectRpcError(
      t().tokens.issueClientToken({}, { headers: basic("exchange-only", created.clientSecret) }),
      Code.PermissionDenied,
      "unauthorized_client",
      /client_credentials/,
    );
    const posted = await postForm(`${t().server.url}/oauth2/token`, { grant_type: "client_credentials" }, basic("exchange-only", created.clientSecret));
    expect({ status: posted.status, error: oauthErrorOf(posted) }, posted.text).toEqual({ status: 400, error: "unauthorized_client" });
  });

  it("a wrong secret is still invalid_client, not unauthorized_client (authentication comes first)", async () => {
    await t().admin.createClient({ id: "exchange-only-2", grantTypes: [TOKEN_EXCHANGE] });
    await expectRpcError(t().tokens.issueClientToken({}, { headers: basic("exchange-only-2", "tks_cs_wrong") }), Code.Unauthenticated, "invalid_client");
  });

  it("UpdateClient with update_mask grant_types changes them, and nothing else", async () => {
    const created = await t().admin.createClient({ id: "grants-updated", scopes: ["a:b"] });
    const changes = { grantTypes: ["client_credentials", TOKEN_EXCHANGE] };
    const updated = await t().admin.updateClient({ client: { id: "grants-updated", ...changes }, updateMask: updateMaskOf(ClientInfoSchema, changes) });
    expect(updated.client).toMatchObject({ grantTypes: ["client_credentials", TOKEN_EXCHANGE], scopes: ["a:b"] });
    const narrowed = { grantTypes: [TOKEN_EXCHANGE] };
    await t().admin.updateClient({ client: { id: "grants-updated", ...narrowed }, updateMask: updateMaskOf(ClientInfoSchema, narrowed) });
    await expectRpcError(
      t().tokens.issueClientToken({}, { headers: basic("grants-updated", created.clientSecret) }),
      Code.PermissionDenied,
      "unauthorized_client",
    );
    // An empty list in the mask puts the default back.
    const reset = { grantTypes: [] };
    const back = await t().admin.updateClient({ client: { id: "grants-updated", ...reset }, updateMask: updateMaskOf(ClientInfoSchema, { grantTypes: [] }) });
    expect(back.client!.grantTypes).toEqual(["client_credentials"]);
    await t().tokens.issueClientToken({}, { headers: basic("grants-updated", created.clientSecret) });
  });

  it.each([
    ["an unknown grant type", ["password"], /grant_types: "password" is not one of client_credentials, urn:ietf:params:oauth:grant-type:token-exchange/],
    ["a grant type twice", ["client_credentials", "client_credentials"], /more than once/],
  ])("CreateClient refuses %s: InvalidArgument", async (_case, grantTypes, message) => {
    await expectRpcError(t().admin.createClient({ id: "bad-grants", grantTypes }), Code.InvalidArgument, "invalid_request", message);
    await expectRpcError(t().admin.getClient({ id: "bad-grants" }), Code.NotFound, "invalid_request");
  });

  it("a config client's grant types show in GetClient, and hold at the token endpoint", async () => {
    expect((await t().admin.getClient({ id: exchanger.id })).client!.grantTypes).toEqual([TOKEN_EXCHANGE]);
    await expectRpcError(t().tokens.issueClientToken({}, { headers: basic(exchanger.id, exchanger.secret) }), Code.PermissionDenied, "unauthorized_client");
  });

  it("RFC 8414 grant_types_supported lists both grant types", async () => {
    const metadata = (await httpGet(`${t().server.url}/.well-known/oauth-authorization-server`)).json as Record<string, unknown>;
    expect(metadata.grant_types_supported).toEqual(["client_credentials", TOKEN_EXCHANGE]);
  });
});
