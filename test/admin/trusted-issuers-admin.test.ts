import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminService, Source } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { ConfigInput } from "../../src/config.js";
import { ADMIN_SCOPE, BACKENDS, bearer, decodeJwt, useAdminServer, useTwoInstancesOnRedis, type AdminTestServer } from "../support/admin.js";
import { assertionForm, generateClientKey, postForm, signAssertion, type ClientKey, type HttpResult } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Issue 20, item 3: AdminService manages a tenant's trusted external issuers
 * beside the config-declared ones (read-only). A stored issuer's tokens
 * authenticate its mapped federated_jwt clients; deleted, they are refused at
 * once here and, after one feed poll, on every other instance.
 */

const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const DECLARED = "https://declared.example";
const CI = "https://ci.example";
const SUBJECT = "repo:org/app:ref:refs/heads/main";

const [ciKey, declaredKey] = await Promise.all([generateClientKey("ES256"), generateClientKey("RS256")]);
const jwksJson = (key: ClientKey) => JSON.stringify({ keys: [key.publicJwk] });

const admin = testClient("admin", [ADMIN_SCOPE]);

const config: Partial<ConfigInput> = {
  trustedIssuers: [{ issuer: DECLARED, jwks: { keys: [declaredKey.publicJwk] }, audiences: ["tokensmith"], subjectMapping: [{ subject: "declared:*", clientId: "deployer" }] }],
};

const ciRequest = (overrides: Record<string, unknown> = {}) => ({
  issuer: CI,
  jwksJson: jwksJson(ciKey),
  audiences: ["tokensmith"],
  subjectMappings: [{ subject: SUBJECT, clientId: "deployer", claims: { repository_owner: "org" } }],
  ...overrides,
});

const ciToken = (t: AdminTestServer, overrides: Record<string, unknown> = {}) => {
  const now = Math.floor(t.clock.now() / 1000);
  return signAssertion(ciKey, { iss: CI, sub: SUBJECT, aud: "tokensmith", repository_owner: "org", iat: now - 5, exp: now + 300, jti: randomUUID(), ...overrides });
};

const clientCredentials = async (t: AdminTestServer, assertion: string): Promise<HttpResult> =>
  postForm(`${t.server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion) });

function issuedTo(result: HttpResult, clientId: string): void {
  expect(result.status, result.text).toBe(200);
  expect(decodeJwt((result.json as { access_token: string }).access_token).payload).toMatchObject({ client_id: clientId });
}

const refused = (result: HttpResult) => expect({ status: result.status, error: (result.json as { error?: string }).error }).toEqual({ status: 401, error: "invalid_client" });

describe.each(BACKENDS)("AdminService trusted issuers on %s", (_name, makeBackend) => {
  const t = useAdminServer(makeBackend, { admin, config });

  beforeAll(async () => {
    await t().admin.createClient({ id: "deployer", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["deploy:production"] });
  });

  it("created: a workload token of the issuer authenticates its mapped federated_jwt client; deleted: refused at once", async () => {
    refused(await clientCredentials(t(), await ciToken(t())));
    const created = await t().admin.createTrustedIssuer(ciRequest());
    expect(created.trustedIssuer).toMatchObject({ issuer: CI, audiences: ["tokensmith"], source: Source.STORE, jwksUri: "" });
    expect(JSON.parse(created.trustedIssuer!.jwksJson)).toEqual({ keys: [ciKey.publicJwk] });
    expect(created.trustedIssuer!.subjectMappings.map((m) => ({ subject: m.subject, clientId: m.clientId, claims: m.claims }))).toEqual([
      { subject: SUBJECT, clientId: "deployer", claims: { repository_owner: "org" } },
    ]);

    issuedTo(await clientCredentials(t(), await ciToken(t())), "deployer");
    // The mapping's claim condition holds as declared.
    refused(await clientCredentials(t(), await ciToken(t(), { repository_owner: "evil" })));

    await t().admin.deleteTrustedIssuer({ issuer: CI });
    refused(await clientCredentials(t(), await ciToken(t())));
    await expectRpcError(t().admin.deleteTrustedIssuer({ issuer: CI }), Code.NotFound, "invalid_request");
  });

  it("lists declared issuers (SOURCE_CONFIG) beside stored ones; a declared one is read-only and cannot be created again", async () => {
    await t().admin.createTrustedIssuer(ciRequest({ issuer: "https://listed.example" }));
    const { trustedIssuers } = await t().admin.listTrustedIssuers({});
    expect(trustedIssuers.map((info) => [info.issuer, info.source])).toEqual([
      [DECLARED, Source.CONFIG],
      ["https://listed.example", Source.STORE],
    ]);
    expect(trustedIssuers[0]!.subjectMappings[0]).toMatchObject({ subject: "declared:*", clientId: "deployer" });
    await expectRpcError(t().admin.deleteTrustedIssuer({ issuer: DECLARED }), Code.FailedPrecondition, "invalid_request", /config file/);
    await expectRpcError(t().admin.createTrustedIssuer(ciRequest({ issuer: DECLARED })), Code.AlreadyExists, "invalid_request");
    await expectRpcError(t().admin.createTrustedIssuer(ciRequest({ issuer: "https://listed.example" })), Code.AlreadyExists, "invalid_request");
    await t().admin.deleteTrustedIssuer({ issuer: "https://listed.example" });
    expect((await t().admin.listTrustedIssuers({})).trustedIssuers.map((info) => info.issuer)).toEqual([DECLARED]);
  });

  it("validates as the config does: InvalidArgument, nothing stored", async () => {
    const invalid: Array<[Record<string, unknown>, RegExp]> = [
      [{ issuer: "" }, /issuer/],
      [{ jwksJson: "" }, /jwks/],
      [{ jwksUri: "https://keys.example/jwks.json" }, /jwks/],
      [{ jwksJson: "{not json" }, /jwks_json/],
      [{ jwksJson: JSON.stringify({ keys: [{ ...ciKey.publicJwk, d: "private" }] }) }, /public/],
      [{ audiences: [] }, /audiences/],
      [{ subjectMappings: [] }, /subject/],
      [{ subjectMappings: [{ subject: "*", clientId: "deployer", claims: {} }] }, /bare \*/],
      [{ subjectMappings: [{ subject: "x", clientId: "", claims: {} }] }, /client/i],
      // The clientJwksUris policy: https only here (the default).
      [{ jwksJson: "", jwksUri: "http://127.0.0.1:9/jwks.json" }, /https|http/],
    ];
    for (const [overrides, message] of invalid) {
      await expectRpcError(t().admin.createTrustedIssuer(ciRequest({ issuer: "https://invalid.example", ...overrides })), Code.InvalidArgument, "invalid_request", message);
    }
    expect((await t().admin.listTrustedIssuers({})).trustedIssuers.map((info) => info.issuer)).toEqual([DECLARED]);
    // A jwks_uri the policy allows is taken (fetched when a token comes).
    const byUri = await t().admin.createTrustedIssuer(ciRequest({ issuer: "https://uri.example", jwksJson: "", jwksUri: "https://keys.example/jwks.json" }));
    expect(byUri.trustedIssuer).toMatchObject({ jwksUri: "https://keys.example/jwks.json", jwksJson: "" });
    await t().admin.deleteTrustedIssuer({ issuer: "https://uri.example" });
  });

  it("a stored issuer's token is a token exchange's subject_token while it is trusted", async () => {
    const { clientSecret } = await t().admin.createClient({ id: "exchanger", scopes: ["deploy:production"], grantTypes: ["client_credentials", EXCHANGE] });
    const exchange = async () =>
      postForm(`${t().server.url}/oauth2/token`, { grant_type: EXCHANGE, subject_token: await ciToken(t()), subject_token_type: JWT_TOKEN_TYPE }, basic("exchanger", clientSecret));
    expect((await exchange()).status).toBe(400);
    await t().admin.createTrustedIssuer(ciRequest());
    const result = await exchange();
    expect(result.status, result.text).toBe(200);
    expect(decodeJwt((result.json as { access_token: string }).access_token).payload).toMatchObject({ sub: SUBJECT, client_id: "exchanger" });
    await t().admin.deleteTrustedIssuer({ issuer: CI });
    expect(await exchange()).toMatchObject({ status: 400, json: { error: "invalid_grant" } });
  });

  it("needs tokensmith:admin", async () => {
    await expectRpcError(t().rawAdmin.listTrustedIssuers({}), Code.Unauthenticated, "invalid_client");
    await expectRpcError(t().rawAdmin.createTrustedIssuer(ciRequest()), Code.Unauthenticated, "invalid_client");
  });
});

describe("trusted issuers across two instances on one Redis", () => {
  // Cached for 5 s of a clock that does not move: only the change feed can make B drop what it knows.
  const instances = useTwoInstancesOnRedis({ admin, config: { ...config, clientCacheSeconds: 5 } });
  let a: AdminTestServer;
  let b: AdminTestServer;
  beforeAll(async () => {
    ({ a, b } = instances());
    await a.admin.createClient({ id: "deployer", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["deploy:production"] });
  });

  const caughtUp = async (instance: AdminTestServer) => instance.server.domain.follower.waitFor((await a.server.domain.feed.end())!);

  it("created on A: B, which had refused the issuer, accepts it after one feed poll; deleted on A: B refuses it after one feed poll", async () => {
    refused(await clientCredentials(b, await ciToken(b)));
    await a.admin.createTrustedIssuer(ciRequest());
    await caughtUp(b);
    issuedTo(await clientCredentials(b, await ciToken(b)), "deployer");
    issuedTo(await clientCredentials(a, await ciToken(a)), "deployer");

    await a.admin.deleteTrustedIssuer({ issuer: CI });
    refused(await clientCredentials(a, await ciToken(a)));
    await caughtUp(b);
    refused(await clientCredentials(b, await ciToken(b)));
  });
});

describe.each(BACKENDS)("trusted issuers of a tenant created over the AdminService on %s", (_name, makeBackend) => {
  const platform = testClient("platform", ["tokensmith:tenants"]);
  const t = useAdminServer(makeBackend, { admin, clients: [platform], config });
  const at = (tenant?: string) => createGrpcTransport({ baseUrl: tenant === undefined ? t().server.url : `${t().server.url.replace(/\/$/, "")}/t/${tenant}` });
  const tokenOf = async (tenant: string | undefined, client: { id: string; secret: string }, scopes: string[]) =>
    (await createClient(TokenService, at(tenant)).issueClientToken({ scopes }, { headers: basic(client.id, client.secret) })).accessToken;

  it("an issuer created in a tenant is that tenant's: its token authenticates the tenant's mapped client at /t/<tenant>, not the default tenant's", async () => {
    const asPlatform = { headers: bearer(await tokenOf(undefined, platform, ["tokensmith:tenants"])) };
    const { adminClientSecret } = await createClient(AdminService, at()).createTenant({ id: "acme", adminClientId: "acme-admin" }, asPlatform);
    const acme = createClient(AdminService, at("acme"));
    const asAcme = { headers: bearer(await tokenOf("acme", { id: "acme-admin", secret: adminClientSecret }, [ADMIN_SCOPE])) };
    await acme.createClient({ id: "deployer", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["deploy:production"] }, asAcme);
    await t().admin.createClient({ id: "deployer", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["deploy:production"] });
    await acme.createTrustedIssuer(ciRequest(), asAcme);

    expect((await acme.listTrustedIssuers({}, asAcme)).trustedIssuers.map((info) => info.issuer)).toEqual([CI]);
    expect((await t().admin.listTrustedIssuers({})).trustedIssuers.map((info) => info.issuer)).toEqual([DECLARED]);
    const inAcme = await postForm(`${t().server.url.replace(/\/$/, "")}/t/acme/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(await ciToken(t())) });
    expect(inAcme.status, inAcme.text).toBe(200);
    expect(decodeJwt((inAcme.json as { access_token: string }).access_token).payload).toMatchObject({ client_id: "deployer", iss: `${t().server.url.replace(/\/$/, "")}/t/acme` });
    refused(await clientCredentials(t(), await ciToken(t())));
  });
});
