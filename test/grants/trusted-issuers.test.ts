import { Code } from "@connectrpc/connect";
import { randomUUID } from "node:crypto";
import type { JWTPayload } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import { hashSecret } from "../../src/domain/secret-format.js";
import { BACKENDS, decodeJwt, useAdminServer } from "../support/admin.js";
import { assertionForm, generateClientKey, hs256Jwt, oauthErrorOf, postForm, signAssertion, startJsonHost, type ClientKey, type HttpResult } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import type { RunningServer } from "../../src/server.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * Issue 20, item 3: trusted external issuers (workload identity federation).
 * A workload authenticates as the client its platform token's subject maps to,
 * presenting the platform JWT as an RFC 7523 §2.2 client_assertion and no
 * secret: here a local "Kubernetes" API server (a JWKS on 127.0.0.1, allowed
 * by clientJwksUris) and a GitHub-Actions-style issuer with an inline JWK Set.
 */

const K8S = "https://kubernetes.default.svc";
const GITHUB = "https://token.actions.githubusercontent.com";
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const PAYMENTS_SA = "system:serviceaccount:payments:api";

const [k8sKey, githubKey, strangerKey] = await Promise.all([generateClientKey("RS256"), generateClientKey("ES256"), generateClientKey("RS256")]);
/** The cluster's service-account issuer: its JWKS served over real HTTP on loopback. */
let k8sJwksFetches = 0;
const k8sJwks = await startJsonHost(() => {
  k8sJwksFetches += 1;
  return { keys: [k8sKey.publicJwk] };
});
afterAll(() => k8sJwks.close());

const admin = testClient("admin", ["tokensmith:admin"]);
const introspector = testClient("introspector", ["token:introspect"]);
/** A secret client that exchanges workload tokens for its own use. */
const gateway = testClient("payments-gateway", ["payments:charge", "payments:refund", "ledger:read", "deploy:production"], { grantTypes: ["client_credentials", EXCHANGE] });
const legacySecret = "legacy-secret-0123456789";

const federatedClient = (id: string, scopes: string[]) => ({ id, tokenEndpointAuthMethods: ["federated_jwt" as const], scopes });

const config: Partial<ConfigInput> = {
  clientJwksUris: { allowHttp: true, allowPrivateNetworks: true },
  clients: [
    federatedClient("payments-api", ["payments:charge", "payments:refund"]),
    federatedClient("app-deployer", ["deploy:production"]),
    federatedClient("app-ci", ["deploy:staging"]),
    // Mapped, but registered for client_secret_basic only: a platform token does not authenticate it.
    { id: "legacy-app", secretHashes: [hashSecret(legacySecret)], tokenEndpointAuthMethods: ["client_secret_basic" as const], scopes: ["payments:charge"] },
  ],
  tenants: [
    {
      id: "acme",
      clients: [{ id: "acme-payments", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["payments:charge"] }],
      trustedIssuers: [{ issuer: K8S, jwksUri: k8sJwks.url, audiences: ["acme"], subjectMapping: [{ subject: PAYMENTS_SA, clientId: "acme-payments" }] }],
    },
  ],
  trustedIssuers: [
    {
      issuer: K8S,
      jwksUri: k8sJwks.url,
      audiences: ["tokensmith"],
      subjectMapping: [
        { subject: PAYMENTS_SA, clientId: "payments-api" },
        { subject: "system:serviceaccount:legacy:app", clientId: "legacy-app" },
        { subject: "system:serviceaccount:ghost:app", clientId: "no-such-client" },
        // Created over AdminService by the tests (a stored client registered for federated_jwt).
        { subject: "system:serviceaccount:jobs:*", clientId: "stored-jobs" },
      ],
    },
    {
      issuer: GITHUB,
      jwks: { keys: [githubKey.publicJwk] },
      audiences: ["https://github.com/org", "tokensmith"],
      subjectMapping: [
        { subject: "repo:org/app:ref:refs/heads/main", clientId: "app-deployer", claims: { repository_owner: "org", ref_protected: true } },
        { subject: "repo:org/app:*", clientId: "app-ci", claims: { repository_owner: "org" } },
      ],
    },
  ],
};

describe.each(BACKENDS)("trusted external issuers on %s", (_name, makeBackend) => {
  const t = useAdminServer(makeBackend, { admin, clients: [gateway, introspector], config });
  const tokenUrl = () => `${t().server.url}/oauth2/token`;
  const nowSeconds = () => Math.floor(t().clock.now() / 1000);

  /** A projected service-account token as the kubelet writes it. */
  const k8sClaims = (overrides: Record<string, unknown> = {}): JWTPayload => ({
    iss: K8S,
    sub: PAYMENTS_SA,
    aud: ["tokensmith"],
    iat: nowSeconds() - 10,
    nbf: nowSeconds() - 10,
    exp: nowSeconds() + 600,
    jti: randomUUID(),
    "kubernetes.io": { namespace: "payments", serviceaccount: { name: "api", uid: randomUUID() } },
    ...overrides,
  });
  const k8sToken = (overrides: Record<string, unknown> = {}, key: ClientKey = k8sKey, header: Record<string, unknown> = {}) =>
    signAssertion(key, k8sClaims(overrides), header);

  /** An Actions OIDC token as the runner gets it. */
  const githubToken = (overrides: Record<string, unknown> = {}) =>
    signAssertion(githubKey, {
      iss: GITHUB,
      sub: "repo:org/app:ref:refs/heads/main",
      aud: "https://github.com/org",
      repository: "org/app",
      repository_owner: "org",
      ref: "refs/heads/main",
      ref_protected: true,
      iat: nowSeconds() - 5,
      exp: nowSeconds() + 300,
      jti: randomUUID(),
      ...overrides,
    });

  const clientCredentials = (assertion: string, extra: Record<string, string> = {}) =>
    postForm(tokenUrl(), { grant_type: "client_credentials", ...assertionForm(assertion, extra) });

  function issuedTo(result: HttpResult, clientId: string): Record<string, unknown> {
    expect(result.status, result.text).toBe(200);
    const claims = decodeJwt((result.json as { access_token: string }).access_token).payload;
    expect(claims).toMatchObject({ client_id: clientId, sub: clientId });
    return claims;
  }

  const refusal = (result: HttpResult) => ({ status: result.status, error: oauthErrorOf(result), description: (result.json as { error_description?: string }).error_description });
  const INVALID_CLIENT = { status: 401, error: "invalid_client", description: "client authentication failed" };

  it("a Kubernetes service-account token authenticates payments-api over /oauth2/token, with no secret", async () => {
    const claims = issuedTo(await clientCredentials(await k8sToken()), "payments-api");
    expect(claims.scope).toBe("payments:charge payments:refund");
  });

  it("...and over the IssueClientToken RPC", async () => {
    const issued = await t().tokens.issueClientToken({
      clientAssertionType: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      clientAssertion: await k8sToken(),
      scopes: ["payments:charge"],
    });
    expect(decodeJwt(issued.accessToken).payload).toMatchObject({ client_id: "payments-api", sub: "payments-api", scope: "payments:charge" });
  });

  it("client_id may be sent along when it names the mapped client", async () => {
    issuedTo(await clientCredentials(await k8sToken(), { client_id: "payments-api" }), "payments-api");
  });

  it("a token of the other audience the issuer is trusted for works too (an array aud naming one)", async () => {
    issuedTo(await clientCredentials(await githubToken({ aud: ["sts.amazonaws.com", "tokensmith"] })), "app-deployer");
  });

  it("a GitHub Actions token of the protected main branch authenticates app-deployer; another ref of the repository, app-ci (trailing * pattern)", async () => {
    issuedTo(await clientCredentials(await githubToken()), "app-deployer");
    const branch = await githubToken({ sub: "repo:org/app:ref:refs/heads/feature", ref: "refs/heads/feature", ref_protected: false });
    issuedTo(await clientCredentials(branch), "app-ci");
  });

  it("claim conditions compare values and types exactly: ref_protected \"true\" (a string) is not true, so main falls through to app-ci", async () => {
    issuedTo(await clientCredentials(await githubToken({ ref_protected: "true" })), "app-ci");
  });

  it("the issuer's JWKS is fetched once and cached; a token naming an unknown kid does not refetch it within the cooldown", async () => {
    issuedTo(await clientCredentials(await k8sToken()), "payments-api");
    const fetched = k8sJwksFetches;
    issuedTo(await clientCredentials(await k8sToken()), "payments-api");
    expect(refusal(await clientCredentials(await k8sToken({}, strangerKey)))).toEqual(INVALID_CLIENT);
    expect(refusal(await clientCredentials(await k8sToken({}, strangerKey, { kid: "another-unknown-kid" })))).toEqual(INVALID_CLIENT);
    issuedTo(await clientCredentials(await k8sToken()), "payments-api");
    expect(k8sJwksFetches).toBe(fetched);
  });

  it("a key the issuer rotated in is fetched on its unknown kid once the 30 s refetch cooldown (the server's clock) has passed", async () => {
    const rotated = await generateClientKey("RS256");
    k8sJwks.serve(() => {
      k8sJwksFetches += 1;
      return { keys: [k8sKey.publicJwk, rotated.publicJwk] };
    });
    try {
      const fetched = k8sJwksFetches;
      expect(refusal(await clientCredentials(await k8sToken({}, rotated)))).toEqual(INVALID_CLIENT);
      expect(k8sJwksFetches).toBe(fetched);
      t().clock.advance(31_000);
      issuedTo(await clientCredentials(await k8sToken({}, rotated)), "payments-api");
      issuedTo(await clientCredentials(await k8sToken()), "payments-api");
      expect(k8sJwksFetches).toBe(fetched + 1);
    } finally {
      k8sJwks.serve(() => {
        k8sJwksFetches += 1;
        return { keys: [k8sKey.publicJwk] };
      });
    }
  });

  it("a client created over AdminService with token_endpoint_auth_methods [federated_jwt] has no secret and is authenticated by a mapped subject", async () => {
    const created = await t().admin.createClient({ id: "stored-jobs", scopes: ["jobs:run"], tokenEndpointAuthMethods: ["federated_jwt"] });
    expect(created.clientSecret).toBe("");
    expect(created.client?.tokenEndpointAuthMethods).toEqual(["federated_jwt"]);
    const claims = issuedTo(await clientCredentials(await k8sToken({ sub: "system:serviceaccount:jobs:nightly" })), "stored-jobs");
    expect(claims.scope).toBe("jobs:run");
  });

  it("a tenant declared in the config trusts its own issuers, not the deployment's", async () => {
    const tenantTokenUrl = `${t().server.url}/t/acme/oauth2/token`;
    const ok = await postForm(tenantTokenUrl, { grant_type: "client_credentials", ...assertionForm(await k8sToken({ aud: ["acme"] })) });
    expect(ok.status, ok.text).toBe(200);
    expect(decodeJwt((ok.json as { access_token: string }).access_token).payload).toMatchObject({ iss: `${t().server.url}/t/acme`, client_id: "acme-payments" });
    // The deployment's GitHub issuer is not the tenant's.
    const refused = await postForm(tenantTokenUrl, { grant_type: "client_credentials", ...assertionForm(await githubToken()) });
    expect(refusal(refused)).toEqual(INVALID_CLIENT);
    // Nor is the tenant's mapping the default tenant's: aud acme is not an audience of the deployment's Kubernetes issuer.
    expect(refusal(await clientCredentials(await k8sToken({ aud: ["acme"] })))).toEqual(INVALID_CLIENT);
  });

  it("a replayed jti is refused: the same token authenticates once", async () => {
    const token = await k8sToken();
    issuedTo(await clientCredentials(token), "payments-api");
    expect(refusal(await clientCredentials(token))).toEqual(INVALID_CLIENT);
  });

  it("a token without jti is not replay-checked (nothing to remember it by)", async () => {
    const token = await k8sToken({ jti: undefined });
    issuedTo(await clientCredentials(token), "payments-api");
    issuedTo(await clientCredentials(token), "payments-api");
  });

  const refused: [string, () => Promise<string>, Record<string, string>?][] = [
    ["expired (60 s ago, beyond the skew)", () => k8sToken({ exp: nowSeconds() - 60 })],
    ["no exp", () => k8sToken({ exp: undefined })],
    ["not yet valid (nbf five minutes ahead)", () => k8sToken({ nbf: nowSeconds() + 300 })],
    ["of another audience", () => k8sToken({ aud: ["https://kubernetes.default.svc"] })],
    ["without aud", () => k8sToken({ aud: undefined })],
    ["an unmapped subject", () => k8sToken({ sub: "system:serviceaccount:payments:other" })],
    ["a subject that only starts like a mapped one (no pattern)", () => k8sToken({ sub: `${PAYMENTS_SA}x` })],
    ["signed by another key under the issuer's kid", () => k8sToken({}, strangerKey, { kid: k8sKey.kid })],
    ["signed by another key with its own kid", () => k8sToken({}, strangerKey)],
    ["HS256 MACed with the issuer's public key", () => hs256Jwt(JSON.stringify(k8sKey.publicJwk), k8sClaims(), { kid: k8sKey.kid })],
    ["signed by the Kubernetes key but naming the GitHub issuer", () => signAssertion(k8sKey, { ...k8sClaims(), iss: GITHUB, sub: "repo:org/app:ref:refs/heads/main", aud: "tokensmith", repository_owner: "org", ref_protected: true })],
    ["an unknown issuer", () => k8sToken({ iss: "https://kubernetes.evil.test" })],
    ["a claim condition that fails (repository_owner of a fork)", () => githubToken({ sub: "repo:org/app:ref:refs/heads/main", repository_owner: "fork" })],
    ["a subject mapped to a client not registered for federated_jwt", () => k8sToken({ sub: "system:serviceaccount:legacy:app" })],
    ["a subject mapped to a client that does not exist", () => k8sToken({ sub: "system:serviceaccount:ghost:app" })],
    ["a client_id other than the mapped client", () => k8sToken(), { client_id: "app-ci" }],
  ];

  it.each(refused)("refused, the same invalid_client for all: %s", async (_case, build, extra) => {
    expect(refusal(await clientCredentials(await build(), extra))).toEqual(INVALID_CLIENT);
  });

  it("refused over the IssueClientToken RPC as Unauthenticated invalid_client", async () => {
    await expectRpcError(
      t().tokens.issueClientToken({ clientAssertionType: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", clientAssertion: await k8sToken({ aud: ["other"] }) }),
      Code.Unauthenticated,
      "invalid_client",
    );
  });

  it("control: the base token of the refusal table, unaltered, is accepted", async () => {
    issuedTo(await clientCredentials(await k8sToken()), "payments-api");
  });

  describe("as the subject_token of a token exchange (RFC 8693, subject_token_type jwt)", () => {
    const exchange = (subjectToken: string, extra: Record<string, string> = {}) =>
      postForm(tokenUrl(), { grant_type: EXCHANGE, subject_token: subjectToken, subject_token_type: JWT_TOKEN_TYPE, ...extra }, basic(gateway.id, gateway.secret));

    it("the issued token's sub is the external subject, act names the acting client, scopes within the mapped client's and the actor's, exp within the external token's", async () => {
      const external = await k8sToken({ exp: nowSeconds() + 120 });
      const result = await exchange(external);
      expect(result.status, result.text).toBe(200);
      const { access_token: token, issued_token_type: type } = result.json as { access_token: string; issued_token_type: string };
      expect(type).toBe("urn:ietf:params:oauth:token-type:access_token");
      const claims = decodeJwt(token).payload;
      expect(claims).toMatchObject({ sub: PAYMENTS_SA, client_id: gateway.id, act: { sub: gateway.id, client_id: gateway.id }, scope: "payments:charge payments:refund" });
      expect(claims.exp as number).toBeLessThanOrEqual(nowSeconds() + 120);
      expect(claims).not.toHaveProperty("parent_jti");
      const introspected = await postForm(`${t().server.url}/oauth2/introspect`, { token }, basic(introspector.id, introspector.secret));
      expect(introspected.json).toMatchObject({ active: true, sub: PAYMENTS_SA, client_id: gateway.id, act: { sub: gateway.id, client_id: gateway.id } });
    });

    it("down-scoping works; a scope the mapped client lacks is invalid_scope even when the actor has it", async () => {
      const external = await k8sToken();
      const narrowed = await exchange(external, { scope: "payments:charge" });
      expect(decodeJwt((narrowed.json as { access_token: string }).access_token).payload.scope).toBe("payments:charge");
      expect(refusal(await exchange(external, { scope: "ledger:read" }))).toMatchObject({ status: 400, error: "invalid_scope" });
    });

    it("a subject token is not used up: the same one is exchanged twice (its jti is spent only as a client assertion)", async () => {
      const external = await k8sToken();
      expect((await exchange(external)).status).toBe(200);
      expect((await exchange(external)).status).toBe(200);
    });

    const refusedSubjects: [string, () => Promise<string>][] = [
      ["expired", () => k8sToken({ exp: nowSeconds() - 60 })],
      ["of another audience", () => k8sToken({ aud: ["other"] })],
      ["an unmapped subject", () => k8sToken({ sub: "system:serviceaccount:payments:other" })],
      ["signed by another key", () => k8sToken({}, strangerKey, { kid: k8sKey.kid })],
      ["an unknown issuer", () => k8sToken({ iss: "https://kubernetes.evil.test" })],
      ["a failed claim condition", () => githubToken({ repository_owner: "fork" })],
    ];

    it.each(refusedSubjects)("refused as invalid_grant: %s", async (_case, build) => {
      expect(refusal(await exchange(await build()))).toMatchObject({ status: 400, error: "invalid_grant" });
    });

    it("an external token said to be an access_token (not a Tokensmith one) is invalid_grant", async () => {
      const result = await exchange(await k8sToken(), { subject_token_type: "urn:ietf:params:oauth:token-type:access_token" });
      expect(refusal(result)).toMatchObject({ status: 400, error: "invalid_grant" });
    });

    it("over the ExchangeToken RPC", async () => {
      const issued = await t().tokens.exchangeToken(
        { subjectToken: await githubToken(), subjectTokenType: JWT_TOKEN_TYPE },
        { headers: basic(gateway.id, gateway.secret) },
      );
      expect(decodeJwt(issued.accessToken).payload).toMatchObject({ sub: "repo:org/app:ref:refs/heads/main", client_id: gateway.id, act: { sub: gateway.id } });
    });
  });
});

describe("a trusted issuer's jwksUri is fetched within the limits of clients' jwks_uris", () => {
  let oversizedFetches = 0;
  let localhostFetches = 0;
  const hosts: Array<{ close(): Promise<void> }> = [];
  const servers: RunningServer[] = [];
  afterAll(async () => {
    await Promise.all([...servers.map((server) => server.close()), ...hosts.map((host) => host.close())]);
  });

  async function serverTrusting(jwksUri: string, clientJwksUris: ConfigInput["clientJwksUris"]): Promise<RunningServer> {
    const server = await startTestServer({
      config: {
        clientJwksUris,
        clients: [federatedClient("payments-api", ["payments:charge"])],
        trustedIssuers: [{ issuer: K8S, jwksUri, audiences: ["tokensmith"], subjectMapping: [{ subject: PAYMENTS_SA, clientId: "payments-api" }] }],
      },
    });
    servers.push(server);
    return server;
  }

  const workloadToken = () =>
    signAssertion(k8sKey, { iss: K8S, sub: PAYMENTS_SA, aud: "tokensmith", exp: Math.floor(Date.now() / 1000) + 300, jti: randomUUID() });

  it("a JWK Set over 64 KiB is not read: invalid_client", async () => {
    const oversized = await startJsonHost(() => {
      oversizedFetches += 1;
      return { keys: [k8sKey.publicJwk], padding: "x".repeat(70 * 1024) };
    });
    hosts.push(oversized);
    const server = await serverTrusting(oversized.url, { allowHttp: true, allowPrivateNetworks: true });
    const result = await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(await workloadToken()) });
    expect({ status: result.status, error: oauthErrorOf(result) }).toEqual({ status: 401, error: "invalid_client" });
    expect(oversizedFetches).toBe(1);
  });

  it("a host name that resolves to loopback is not connected to unless allowPrivateNetworks: invalid_client, nothing fetched", async () => {
    const local = await startJsonHost(() => {
      localhostFetches += 1;
      return { keys: [k8sKey.publicJwk] };
    });
    hosts.push(local);
    const byName = local.url.replace("127.0.0.1", "localhost");
    const server = await serverTrusting(byName, { allowHttp: true, allowPrivateNetworks: false });
    const result = await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(await workloadToken()) });
    expect({ status: result.status, error: oauthErrorOf(result) }).toEqual({ status: 401, error: "invalid_client" });
    expect(localhostFetches).toBe(0);
    // control: the same issuer, allowed explicitly, is fetched and authenticates.
    const allowed = await serverTrusting(byName, { allowHttp: true, allowPrivateNetworks: true });
    const ok = await postForm(`${allowed.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(await workloadToken()) });
    expect(ok.status, ok.text).toBe(200);
    expect(localhostFetches).toBe(1);
  });
});
