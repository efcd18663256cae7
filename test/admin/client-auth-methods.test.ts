import { Code } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_SCOPE, BACKENDS, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { assertionClaims, assertionForm, generateClientKey, oauthErrorOf, postForm, signAssertion, type ClientKey } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Issue 16, item 8: a client authenticates only by its registered
 * token_endpoint_auth_methods (RFC 7591 names). A client registered with keys
 * only (private_key_jwt) has no secret at all: CreateClient returns none and
 * RotateClientSecret is FailedPrecondition. Over the RPC, a Basic header is
 * client_secret_basic, client_id + client_secret fields client_secret_post.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const SECRET_METHODS = ["client_secret_basic", "client_secret_post"];

describe.each(BACKENDS)("token_endpoint_auth_methods on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;
  let key: ClientKey;

  beforeAll(async () => {
    key = await generateClientKey("ES256");
    await backend.start();
    t = await startAdminServer(backend, { admin });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const jwksJson = () => JSON.stringify({ keys: [key.publicJwk] });
  const viaBasic = (id: string, secret: string) => t.tokens.issueClientToken({}, { headers: basic(id, secret) });
  const viaPost = (id: string, secret: string) => t.tokens.issueClientToken({ clientId: id, clientSecret: secret });
  const viaAssertion = async (id: string) =>
    t.tokens.issueClientToken({ clientAssertionType: assertionForm("").client_assertion_type!, clientAssertion: await assertion(id) });
  const assertion = (id: string) => signAssertion(key, assertionClaims(id, t.server.domain.issuer, t.clock.now()));
  const httpToken = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    postForm(`${t.server.url}/oauth2/token`, { grant_type: "client_credentials", ...form }, headers);

  it("a client created with keys only: private_key_jwt, no secret, RotateClientSecret is FailedPrecondition", async () => {
    const created = await t.admin.createClient({ id: "keys-only", jwksJson: jwksJson() });
    expect(created.clientSecret).toBe("");
    expect(created.client!.tokenEndpointAuthMethods).toEqual(["private_key_jwt"]);
    expect(decodeJwt((await viaAssertion("keys-only")).accessToken).client_id).toBe("keys-only");
    await expectRpcError(t.admin.rotateClientSecret({ id: "keys-only" }), Code.FailedPrecondition, "invalid_request", /private_key_jwt only/);
    expect((await t.admin.getClient({ id: "keys-only" })).client!.tokenEndpointAuthMethods).toEqual(["private_key_jwt"]);
  });

  it("a client created without keys: both secret methods by default, and no private_key_jwt", async () => {
    const created = await t.admin.createClient({ id: "secret-default" });
    expect(created.client!.tokenEndpointAuthMethods).toEqual(SECRET_METHODS);
    await viaBasic("secret-default", created.clientSecret);
    await viaPost("secret-default", created.clientSecret);
  });

  it.each([
    ["client_secret_basic", "client_secret_post", (id: string, secret: string) => viaPost(id, secret)],
    ["client_secret_post", "client_secret_basic", (id: string, secret: string) => viaBasic(id, secret)],
  ])("registered for %s only: %s with the right secret is Unauthenticated, invalid_client", async (method, _other, otherCall) => {
    const id = `only-${method}`;
    const created = await t.admin.createClient({ id, tokenEndpointAuthMethods: [method] });
    expect(created.client!.tokenEndpointAuthMethods).toEqual([method]);
    await (method === "client_secret_basic" ? viaBasic(id, created.clientSecret) : viaPost(id, created.clientSecret));
    await expectRpcError(otherCall(id, created.clientSecret), Code.Unauthenticated, "invalid_client", new RegExp(`not registered`));
  });

  it("over HTTP: the other secret method is 401 invalid_client, the registered one 200", async () => {
    const { clientSecret } = await t.admin.createClient({ id: "http-basic-only", tokenEndpointAuthMethods: ["client_secret_basic"] });
    const posted = await httpToken({ client_id: "http-basic-only", client_secret: clientSecret });
    expect({ status: posted.status, error: oauthErrorOf(posted) }, posted.text).toEqual({ status: 401, error: "invalid_client" });
    // A failed body authentication gets the JSON error without a challenge (see oauth-endpoints.ts).
    expect(posted.headers.get("www-authenticate")).toBeNull();
    expect((await httpToken({}, basic("http-basic-only", clientSecret))).status).toBe(200);
  });

  it("keys and a secret method together: the secret is returned and both work", async () => {
    const created = await t.admin.createClient({
      id: "hybrid",
      jwksJson: jwksJson(),
      tokenEndpointAuthMethods: ["private_key_jwt", "client_secret_basic"],
    });
    expect(created.clientSecret).not.toBe("");
    await viaBasic("hybrid", created.clientSecret);
    await viaAssertion("hybrid");
    await expectRpcError(viaPost("hybrid", created.clientSecret), Code.Unauthenticated, "invalid_client");
  });

  it("keys registered but private_key_jwt not among the methods: an assertion is refused", async () => {
    await t.admin.createClient({ id: "keys-unused", jwksJson: jwksJson(), tokenEndpointAuthMethods: ["client_secret_basic"] });
    await expectRpcError(viaAssertion("keys-unused"), Code.Unauthenticated, "invalid_client");
    const result = await httpToken(assertionForm(await assertion("keys-unused")));
    expect({ status: result.status, error: oauthErrorOf(result) }).toEqual({ status: 401, error: "invalid_client" });
  });

  it.each<[string, { jwksJson?: string; tokenEndpointAuthMethods: string[] }, RegExp]>([
    ["an unknown method", { tokenEndpointAuthMethods: ["client_secret_jwt"] }, /client_secret_basic, client_secret_post, private_key_jwt/],
    ["private_key_jwt without keys", { tokenEndpointAuthMethods: ["private_key_jwt"] }, /private_key_jwt needs jwks_json or jwks_uri/],
    ["a method twice", { tokenEndpointAuthMethods: ["client_secret_basic", "client_secret_basic"] }, /more than once/],
  ])("%s: InvalidArgument, and nothing is stored", async (name, request, message) => {
    const id = `bad-methods-${name.replaceAll(" ", "-")}`;
    await expectRpcError(t.admin.createClient({ id, ...request }), Code.InvalidArgument, "invalid_request", message);
    await expectRpcError(t.admin.getClient({ id }), Code.NotFound, "invalid_request");
  });

  it("UpdateClient to private_key_jwt only deletes the secrets; back to a secret method, RotateClientSecret issues one", async () => {
    const created = await t.admin.createClient({ id: "switcher", jwksJson: jwksJson(), tokenEndpointAuthMethods: ["private_key_jwt", "client_secret_post"] });
    await viaPost("switcher", created.clientSecret);

    const keysOnly = await t.admin.updateClient({
      client: { id: "switcher", tokenEndpointAuthMethods: ["private_key_jwt"] },
      updateMask: { paths: ["token_endpoint_auth_methods"] },
    });
    expect(keysOnly.client!.tokenEndpointAuthMethods).toEqual(["private_key_jwt"]);
    await expectRpcError(viaPost("switcher", created.clientSecret), Code.Unauthenticated, "invalid_client");
    await expectRpcError(t.admin.rotateClientSecret({ id: "switcher" }), Code.FailedPrecondition, "invalid_request");

    const withSecret = await t.admin.updateClient({
      client: { id: "switcher", tokenEndpointAuthMethods: ["client_secret_basic"] },
      updateMask: { paths: ["token_endpoint_auth_methods"] },
    });
    expect(withSecret.client!.tokenEndpointAuthMethods).toEqual(["client_secret_basic"]);
    // The secret deleted above does not come back.
    await expectRpcError(viaBasic("switcher", created.clientSecret), Code.Unauthenticated, "invalid_client");
    const rotated = await t.admin.rotateClientSecret({ id: "switcher" });
    await viaBasic("switcher", rotated.clientSecret);
  });

  it("UpdateClient cannot clear the keys of a client that authenticates with them", async () => {
    await t.admin.createClient({ id: "keep-keys", jwksJson: jwksJson() });
    const update = t.admin.updateClient({ client: { id: "keep-keys", jwksJson: "" }, updateMask: { paths: ["jwks_json"] } });
    await expectRpcError(update, Code.InvalidArgument, "invalid_request", /private_key_jwt needs jwks_json or jwks_uri/);
    await viaAssertion("keep-keys");
  });
});
