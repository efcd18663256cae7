import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { generateClientKey, postForm, startJsonHost, type ClientKey, type JsonHost } from "../support/oauth.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * Interoperability with code nobody here wrote: openid-client v6 (over
 * oauth4webapi) discovers Tokensmith from its RFC 8414 document and runs the
 * client credentials grant, introspection and revocation with every client
 * authentication method; a resource server built on jose's jwtVerify and
 * createRemoteJWKSet accepts the RFC 9068 tokens, and refuses them once the
 * signing key is no longer published.
 */

const orders = testClient("orders-service", ["orders:read", "orders:write", "token:introspect"]);
const billing = testClient("billing-service", ["billing:read"], { audiences: ["https://api.billing.test", "https://api.ledger.test"] });
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
/** Registered for token exchange (RFC 8693) only. */
const exchanger = testClient("exchanger-service", ["orders:read"], { audiences: ["https://api.inventory.test"], grantTypes: [TOKEN_EXCHANGE] });
const PKJWT_ES256 = "pkjwt-es256";
const PKJWT_ED25519 = "pkjwt-ed25519";

let es256: ClientKey;
let ed25519: ClientKey;
let server: RunningServer;

beforeAll(async () => {
  [es256, ed25519] = await Promise.all([generateClientKey("ES256"), generateClientKey("Ed25519")]);
  server = await startTestServer({
    clients: [orders, billing, exchanger],
    config: {
      clients: [
        { id: PKJWT_ES256, jwks: { keys: [es256.publicJwk] }, scopes: ["reports:read", "token:introspect"] },
        { id: PKJWT_ED25519, jwks: { keys: [ed25519.publicJwk] }, scopes: ["reports:read", "token:introspect"] },
      ],
    },
  });
});

afterAll(async () => {
  await server?.close();
});

/** openid-client's discovery of an OAuth 2.0 (not OpenID) server over plain http on the loopback. */
function discover(clientId: string, auth: oidc.ClientAuth): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(server.url), clientId, undefined, auth, { algorithm: "oauth2", execute: [oidc.allowInsecureRequests] });
}

async function thrown(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

describe("openid-client: failures surface as OAuth errors", () => {
  it("a wrong client secret: 401, with the Basic challenge or the invalid_client body", async () => {
    const config = await discover(orders.id, oidc.ClientSecretBasic(`${orders.secret}x`));
    const error = (await thrown(oidc.clientCredentialsGrant(config))) as { status?: number; error?: string; cause?: unknown };
    expect(error).toBeInstanceOf(Error);
    expect(error.status).toBe(401);
    if (error instanceof oidc.WWWAuthenticateChallengeError) {
      expect(error.cause.map((challenge) => challenge.scheme)).toContain("basic");
      expect(await error.response.json()).toMatchObject({ error: "invalid_client" });
    } else {
      expect(error).toBeInstanceOf(oidc.ResponseBodyError);
      expect(error.error).toBe("invalid_client");
    }
  });

  it("a wrong client_secret_post secret: invalid_client", async () => {
    const config = await discover(orders.id, oidc.ClientSecretPost("tks_cs_wrong"));
    const error = await thrown(oidc.clientCredentialsGrant(config));
    expect((error as { status?: number }).status).toBe(401);
  });

  it("a scope the client may not have: ResponseBodyError invalid_scope, status 400", async () => {
    const config = await discover(orders.id, oidc.ClientSecretBasic(orders.secret));
    const error = await thrown(oidc.clientCredentialsGrant(config, { scope: "orders:delete" }));
    expect(error).toBeInstanceOf(oidc.ResponseBodyError);
    expect(error).toMatchObject({ error: "invalid_scope", status: 400 });
  });

  it("a private_key_jwt signed with a key that is not registered: invalid_client", async () => {
    const stranger = await generateClientKey("ES256", es256.kid);
    const config = await discover(PKJWT_ES256, oidc.PrivateKeyJwt({ key: stranger.privateKey, kid: stranger.kid }));
    const error = await thrown(oidc.clientCredentialsGrant(config));
    expect((error as { status?: number }).status).toBe(401);
  });
});

describe("openid-client: discovery (RFC 8414)", () => {
  it("finds every endpoint and the issuer in /.well-known/oauth-authorization-server", async () => {
    const config = await discover(orders.id, oidc.ClientSecretBasic(orders.secret));
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(server.domain.issuer);
    expect(metadata).toMatchObject({
      token_endpoint: `${server.domain.issuer}/oauth2/token`,
      introspection_endpoint: `${server.domain.issuer}/oauth2/introspect`,
      revocation_endpoint: `${server.domain.issuer}/oauth2/revoke`,
      jwks_uri: `${server.domain.issuer}/.well-known/jwks.json`,
    });
  });
});

describe.each([
  ["client_secret_basic", () => ({ id: orders.id, auth: oidc.ClientSecretBasic(orders.secret), scope: "orders:read" })],
  ["client_secret_post", () => ({ id: orders.id, auth: oidc.ClientSecretPost(orders.secret), scope: "orders:read" })],
  ["private_key_jwt (ES256)", () => ({ id: PKJWT_ES256, auth: oidc.PrivateKeyJwt({ key: es256.privateKey, kid: es256.kid }), scope: "reports:read" })],
  // oauth4webapi names the Ed25519 algorithm by its fully-specified JWS name "Ed25519" (RFC 9864), not "EdDSA".
  [
    "private_key_jwt (Ed25519, as openid-client signs it)",
    () => ({ id: PKJWT_ED25519, auth: oidc.PrivateKeyJwt({ key: ed25519.privateKey, kid: ed25519.kid }), scope: "reports:read" }),
  ],
])("openid-client with %s", (_method, setup) => {
  it("gets a token by client credentials, introspects it, revokes it, and sees it inactive", async () => {
    const { id, auth, scope } = setup();
    const config = await discover(id, auth);

    const tokens = await oidc.clientCredentialsGrant(config, { scope });
    expect(tokens.token_type.toLowerCase()).toBe("bearer");
    expect(tokens.scope).toBe(scope);
    expect(tokens.expiresIn()).toBeGreaterThan(3500);
    expect(tokens.refresh_token).toBeUndefined();
    expect(decodeJwt(tokens.access_token)).toMatchObject({ client_id: id, scope });

    const active = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(active).toMatchObject({ active: true, client_id: id, scope, sub: id, iss: server.domain.issuer });

    await oidc.tokenRevocation(config, tokens.access_token, { token_type_hint: "access_token" });

    const inactive = await oidc.tokenIntrospection(config, tokens.access_token);
    expect({ ...inactive }).toEqual({ active: false });
  });
});

describe("openid-client: resource indicators (RFC 8707)", () => {
  it("asks for two resources and gets both in aud", async () => {
    const config = await discover(billing.id, oidc.ClientSecretBasic(billing.secret));
    const tokens = await oidc.clientCredentialsGrant(
      config,
      new URLSearchParams([
        ["resource", "https://api.billing.test"],
        ["resource", "https://api.ledger.test"],
      ]),
    );
    expect(decodeJwt(tokens.access_token).aud).toEqual(["https://api.billing.test", "https://api.ledger.test"]);
  });

  it("is refused a resource the client is not registered for: invalid_target", async () => {
    const config = await discover(billing.id, oidc.ClientSecretBasic(billing.secret));
    const error = await thrown(oidc.clientCredentialsGrant(config, { resource: "https://evil.test" }));
    expect(error).toMatchObject({ error: "invalid_target", status: 400 });
  });
});

describe("openid-client: token exchange (RFC 8693) through genericGrantRequest, unmodified", () => {
  it("exchanges an access token for one that acts for its subject, and introspection shows the actor", async () => {
    const subject = await oidc.clientCredentialsGrant(await discover(orders.id, oidc.ClientSecretBasic(orders.secret)), { scope: "orders:read orders:write" });
    const config = await discover(exchanger.id, oidc.ClientSecretPost(exchanger.secret));
    const exchanged = await oidc.genericGrantRequest(config, TOKEN_EXCHANGE, {
      subject_token: subject.access_token,
      subject_token_type: ACCESS_TOKEN_TYPE,
      resource: "https://api.inventory.test",
      scope: "orders:read",
    });
    expect(exchanged).toMatchObject({ issued_token_type: ACCESS_TOKEN_TYPE, token_type: "bearer", scope: "orders:read", expires_in: subject.expires_in });
    expect(decodeJwt(exchanged.access_token)).toMatchObject({
      sub: orders.id,
      client_id: exchanger.id,
      aud: "https://api.inventory.test",
      act: { sub: exchanger.id, client_id: exchanger.id },
      parent_jti: decodeJwt(subject.access_token).jti,
    });
    const introspection = await oidc.tokenIntrospection(await discover(orders.id, oidc.ClientSecretBasic(orders.secret)), exchanged.access_token);
    expect(introspection).toMatchObject({ active: true, sub: orders.id, act: { sub: exchanger.id, client_id: exchanger.id } });
  });

  it("a scope beyond the subject token's: ResponseBodyError invalid_scope", async () => {
    const subject = await oidc.clientCredentialsGrant(await discover(orders.id, oidc.ClientSecretBasic(orders.secret)), { scope: "token:introspect" });
    const config = await discover(exchanger.id, oidc.ClientSecretPost(exchanger.secret));
    const error = await thrown(oidc.genericGrantRequest(config, TOKEN_EXCHANGE, { subject_token: subject.access_token, subject_token_type: ACCESS_TOKEN_TYPE, scope: "orders:read" }));
    expect(error).toBeInstanceOf(oidc.ResponseBodyError);
    expect((error as oidc.ResponseBodyError).error).toBe("invalid_scope");
  });

  it("a client without the grant type: ResponseBodyError unauthorized_client", async () => {
    const subject = await oidc.clientCredentialsGrant(await discover(orders.id, oidc.ClientSecretBasic(orders.secret)));
    const config = await discover(billing.id, oidc.ClientSecretBasic(billing.secret));
    const error = await thrown(oidc.genericGrantRequest(config, TOKEN_EXCHANGE, { subject_token: subject.access_token, subject_token_type: ACCESS_TOKEN_TYPE }));
    expect((error as oidc.ResponseBodyError).error).toBe("unauthorized_client");
  });
});

describe("a resource server verifying tokens with jose (jwtVerify + createRemoteJWKSet)", () => {
  const API = "https://api.billing.test";
  let proxy: JsonHost;
  let sameIssuer: RunningServer;
  let restarted: RunningServer;
  let config: oidc.Configuration;

  beforeAll(async () => {
    // A JWKS proxy whose key list a test can empty, standing for "the key was removed from the JWKS".
    proxy = await startJsonHost(async () => (await fetch(`${server.url}/.well-known/jwks.json`)).json());
    // Two instances with one configured issuer and no dataDir: the second one's keys are not the first one's.
    const shared = { issuer: "http://tokensmith.test" };
    [sameIssuer, restarted] = await Promise.all([
      startTestServer({ clients: [billing], config: shared }),
      startTestServer({ clients: [billing], config: shared }),
    ]);
    config = await discover(billing.id, oidc.ClientSecretBasic(billing.secret));
  });

  afterAll(async () => {
    await Promise.all([proxy?.close(), sameIssuer?.close(), restarted?.close()]);
  });

  /** What a resource server for `audience` does with each request. */
  function resourceServer(jwksUrl: string, issuer: string, audience = API) {
    const keys: JWTVerifyGetKey = createRemoteJWKSet(new URL(jwksUrl));
    return (token: string) => jwtVerify(token, keys, { issuer, audience, typ: "at+jwt", algorithms: ["EdDSA", "ES256"] });
  }

  async function billingToken(): Promise<string> {
    return (await oidc.clientCredentialsGrant(config, { resource: API })).access_token;
  }

  async function refusal(verification: Promise<unknown>): Promise<unknown> {
    const error = await thrown(verification);
    expect(error).toBeInstanceOf(errors.JOSEError);
    return error;
  }

  it("refuses a token for another audience (aud)", async () => {
    const verify = resourceServer(config.serverMetadata().jwks_uri ?? "", server.domain.issuer, "https://api.ledger.test");
    expect(await refusal(verify(await billingToken()))).toBeInstanceOf(errors.JWTClaimValidationFailed);
  });

  it("refuses a token when it expects another issuer (iss)", async () => {
    const verify = resourceServer(config.serverMetadata().jwks_uri ?? "", "https://other-issuer.test");
    expect(await refusal(verify(await billingToken()))).toBeInstanceOf(errors.JWTClaimValidationFailed);
  });

  it("refuses a token once its key is gone from the JWKS (a fresh key set, the proxy now serving no keys)", async () => {
    const token = await billingToken();
    expect((await resourceServer(proxy.url, server.domain.issuer)(token)).payload.client_id).toBe(billing.id);
    proxy.serve(() => ({ keys: [] }));
    try {
      expect(await refusal(resourceServer(proxy.url, server.domain.issuer)(token))).toBeInstanceOf(errors.JWKSNoMatchingKey);
    } finally {
      proxy.serve(async () => (await fetch(`${server.url}/.well-known/jwks.json`)).json());
    }
  });

  it("refuses a token of an instance with the same issuer but other keys (a restart without dataDir)", async () => {
    const issued = await postForm(`${sameIssuer.url}/oauth2/token`, { grant_type: "client_credentials", resource: API }, basic(billing.id, billing.secret));
    const token = (issued.json as { access_token: string }).access_token;
    const atFirst = resourceServer(`${sameIssuer.url}/.well-known/jwks.json`, "http://tokensmith.test");
    expect((await atFirst(token)).payload.iss).toBe("http://tokensmith.test");
    const afterRestart = resourceServer(`${restarted.url}/.well-known/jwks.json`, "http://tokensmith.test");
    expect(await refusal(afterRestart(token))).toBeInstanceOf(errors.JWKSNoMatchingKey);
  });

  it("accepts a token from openid-client, checking typ at+jwt, iss, aud and the signature against the published JWKS", async () => {
    const metadata = config.serverMetadata();
    const verify = resourceServer(metadata.jwks_uri ?? "", metadata.issuer);
    const { payload, protectedHeader } = await verify(await billingToken());
    expect(protectedHeader.typ).toBe("at+jwt");
    expect(payload).toMatchObject({ iss: server.domain.issuer, aud: API, client_id: billing.id, sub: billing.id, scope: "billing:read" });
  });
});
