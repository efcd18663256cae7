import { Code, ConnectError } from "@connectrpc/connect";
import { decodeJwt, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { parseConfig } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { MemoryStore } from "../../src/store/memory.js";
import {
  assertionClaims,
  assertionForm,
  generateClientKey,
  hs256Jwt,
  JWT_BEARER,
  oauthErrorOf,
  postForm,
  signAssertion,
  startJsonHost,
  unsecuredJwt,
  type ClientKey,
  type HttpResult,
  type JsonHost,
} from "../support/oauth.js";
import { nonCanonicalSpellings, withSegment } from "../support/base64url-spellings.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * private_key_jwt client authentication (RFC 7523 §2.2 / §3, OIDC Core §9):
 * keys registered inline or by jwks_uri; iss = sub = client_id, aud = the
 * issuer or the token endpoint, a near exp, an asymmetric alg, a jti used
 * once (also across instances sharing a store). Over HTTP and the RPC.
 */

const INLINE = "pkjwt-inline";
const REMOTE = "pkjwt-remote";
const HYBRID = "pkjwt-hybrid";
const UNREACHABLE = "pkjwt-unreachable";
const BAD_JWKS = "pkjwt-bad-jwks";
const SECRET_METHOD_ONLY = "pkjwt-secret-method-only";
/** A client that (mis)registered a symmetric key in its key set: HS256 must still be refused. */
const SYMMETRIC = "pkjwt-symmetric";
const symmetricKey = { kty: "oct", kid: "shared", k: Buffer.from(generateSecret("client_secret")).toString("base64url") };
const hybridSecret = generateSecret("client_secret");
const secretOnly = testClient("secret-only", ["orders:read"]);

let es256: ClientKey;
let eddsa: ClientKey;
let rs256: ClientKey;
let ps256: ClientKey;
let remoteKey: ClientKey;
let hybridKey: ClientKey;
let stranger: ClientKey;

let clock: ManualClock;
let jwksHost: JsonHost;
let badJwksHost: JsonHost;
let unusedJwksHost: JsonHost;
let server: RunningServer;
let issuer: string;
let tokenUrl: string;

beforeAll(async () => {
  [es256, eddsa, rs256, ps256, remoteKey, hybridKey, stranger] = await Promise.all([
    generateClientKey("ES256"),
    generateClientKey("EdDSA"),
    generateClientKey("RS256"),
    generateClientKey("PS256"),
    generateClientKey("ES256"),
    generateClientKey("ES256"),
    generateClientKey("ES256"),
  ]);
  jwksHost = await startJsonHost(() => ({ keys: [remoteKey.publicJwk] }));
  badJwksHost = await startJsonHost(() => ({ not: "a key set" }));
  unusedJwksHost = await startJsonHost(() => ({ keys: [remoteKey.publicJwk] }));
  // A port that was just listening and is now closed: connections to it are refused.
  const closedHost = await startJsonHost(() => ({ keys: [] }));
  await closedHost.close();
  const unreachableUrl = closedHost.url;
  clock = new ManualClock(Date.now());
  server = await startTestServer({
    clock,
    clients: [secretOnly],
    config: {
      // The key hosts of these tests are local http servers.
      clientJwksUris: { allowHttp: true, allowPrivateNetworks: true },
      clients: [
        { id: INLINE, jwks: { keys: [es256.publicJwk, eddsa.publicJwk, rs256.publicJwk, ps256.publicJwk] }, scopes: ["orders:read", "orders:write", "token:introspect"] },
        { id: REMOTE, jwksUri: jwksHost.url, scopes: ["reports:read"] },
        {
          id: HYBRID,
          secretHashes: [hashSecret(hybridSecret)],
          jwks: { keys: [hybridKey.publicJwk] },
          tokenEndpointAuthMethods: ["private_key_jwt", "client_secret_basic", "client_secret_post"],
          scopes: ["orders:read"],
        },
        // Keys at a jwks_uri, but registered for client_secret_basic only: its keys are never used nor fetched.
        {
          id: SECRET_METHOD_ONLY,
          secretHashes: [hashSecret(hybridSecret)],
          jwksUri: unusedJwksHost.url,
          tokenEndpointAuthMethods: ["client_secret_basic"],
          scopes: ["orders:read"],
        },
        { id: UNREACHABLE, jwksUri: unreachableUrl, scopes: ["orders:read"] },
        { id: BAD_JWKS, jwksUri: badJwksHost.url, scopes: ["orders:read"] },
        { id: SYMMETRIC, jwks: { keys: [es256.publicJwk] }, scopes: ["orders:read"] },
      ],
    },
  });
  issuer = server.domain.issuer;
  tokenUrl = `${issuer}/oauth2/token`;
});

afterAll(async () => {
  await Promise.all([server?.close(), jwksHost?.close(), badJwksHost?.close(), unusedJwksHost?.close()]);
});

const claims = (clientId: string, overrides: Record<string, unknown> = {}): JWTPayload =>
  assertionClaims(clientId, issuer, clock.now(), overrides);

const inlineAssertion = (overrides: Record<string, unknown> = {}, key: ClientKey = es256) => signAssertion(key, claims(INLINE, overrides));

function requestToken(assertion: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<HttpResult> {
  return postForm(tokenUrl, { grant_type: "client_credentials", ...assertionForm(assertion, extra) }, headers);
}

function expectOAuthError(result: HttpResult, status: number, error: string): void {
  expect({ status: result.status, error: oauthErrorOf(result) }, result.text).toEqual({ status, error });
  expect(result.headers.get("cache-control")).toBe("no-store");
}

function expectIssuedTo(result: HttpResult, clientId: string): string {
  expect(result.status, result.text).toBe(200);
  const token = (result.json as { access_token: string }).access_token;
  expect(decodeJwt(token)).toMatchObject({ client_id: clientId, sub: clientId });
  return token;
}

describe("private_key_jwt over POST /oauth2/token: refused assertions are 401 invalid_client", () => {
  const cases: [string, () => Promise<{ assertion: string; extra?: Record<string, string> }>][] = [
    ["alg none (unsecured JWT)", async () => ({ assertion: unsecuredJwt(claims(INLINE)) })],
    ["alg none naming a registered kid", async () => ({ assertion: unsecuredJwt(claims(INLINE), { kid: es256.kid }) })],
    ["HS256 MACed with the client's own secret (client_secret_jwt is not offered)", async () => ({ assertion: await hs256Jwt(hybridSecret, claims(HYBRID)) })],
    [
      "HS256 MACed with a shared key, naming a kid",
      async () => ({ assertion: await hs256Jwt(Buffer.from(symmetricKey.k, "base64url"), claims(SYMMETRIC), { kid: symmetricKey.kid }) }),
    ],
    [
      "HS256 MACed with the registered public key as the secret (algorithm confusion)",
      async () => ({ assertion: await hs256Jwt(JSON.stringify(es256.publicJwk), claims(INLINE), { kid: es256.kid }) }),
    ],
    ["a foreign aud", async () => ({ assertion: await inlineAssertion({ aud: "https://evil.test" }) })],
    ["the introspection endpoint as aud", async () => ({ assertion: await inlineAssertion({ aud: `${issuer}/oauth2/introspect` }) })],
    ["no aud", async () => ({ assertion: await inlineAssertion({ aud: undefined }) })],
    ["an exp 60 s ago (beyond the skew)", async () => ({ assertion: await inlineAssertion({ exp: Math.floor(clock.now() / 1000) - 60 }) })],
    ["an exp two hours ahead (too long-lived)", async () => ({ assertion: await inlineAssertion({ exp: Math.floor(clock.now() / 1000) + 7200 }) })],
    ["no exp", async () => ({ assertion: await inlineAssertion({ exp: undefined }) })],
    ["an nbf five minutes ahead", async () => ({ assertion: await inlineAssertion({ nbf: Math.floor(clock.now() / 1000) + 300 }) })],
    ["no jti", async () => ({ assertion: await inlineAssertion({ jti: undefined }) })],
    ["an empty jti", async () => ({ assertion: await inlineAssertion({ jti: "" }) })],
    ["iss ≠ sub", async () => ({ assertion: await inlineAssertion({ sub: REMOTE }) })],
    ["no sub", async () => ({ assertion: await inlineAssertion({ sub: undefined }) })],
    ["iss = sub = another client, signed with this client's key", async () => ({ assertion: await signAssertion(es256, claims(REMOTE)) })],
    ["iss = sub = an unknown client", async () => ({ assertion: await signAssertion(es256, claims("no-such-client")) })],
    ["iss = sub = a client without registered keys", async () => ({ assertion: await signAssertion(es256, claims(secretOnly.id)) })],
    ["a signature by an unregistered key under a registered kid", async () => ({ assertion: await signAssertion(stranger, claims(INLINE), { kid: es256.kid }) })],
    ["a signature by an unregistered key without kid", async () => ({ assertion: await signAssertion(stranger, claims(INLINE), { kid: undefined }) })],
    ["a client_id parameter that differs from iss", async () => ({ assertion: await inlineAssertion(), extra: { client_id: REMOTE } })],
    ["a string that is not a JWT", async () => ({ assertion: "not-a-jwt" })],
    ["an assertion over 8 KiB", async () => ({ assertion: await inlineAssertion({ padding: "x".repeat(9000) }) })],
    [
      "a Tokensmith access token (wrong iss, sub and aud)",
      async () => {
        const issued = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic(secretOnly.id, secretOnly.secret));
        return { assertion: (issued.json as { access_token: string }).access_token };
      },
    ],
    ["a jwks_uri that cannot be reached", async () => ({ assertion: await signAssertion(es256, claims(UNREACHABLE)) })],
    ["a jwks_uri that serves something other than a JWK Set", async () => ({ assertion: await signAssertion(es256, claims(BAD_JWKS)) })],
  ];

  it.each(cases)("%s", async (_case, build) => {
    const { assertion, extra } = await build();
    const result = await requestToken(assertion, extra);
    expectOAuthError(result, 401, "invalid_client");
  });

  it("control: the base assertion of this table, unaltered, is accepted", async () => {
    expectIssuedTo(await requestToken(await inlineAssertion()), INLINE);
  });
});

describe("private_key_jwt: an assertion in non-canonical base64url (RFC 7515 §2, RFC 4648 §3.5) is 401 invalid_client", () => {
  /** An assertion whose chosen segment is 2 mod 4 long, so its last character has 4 unused bits. */
  async function assertionWithUnusedBits(index: 0 | 1 | 2): Promise<string> {
    for (let pad = ""; ; pad += "x") {
      const assertion = await signAssertion(eddsa, claims(INLINE, { pad }), { pad });
      if (assertion.split(".")[index]!.length % 4 === 2) return assertion;
    }
  }

  it.each([
    ["header", 0],
    ["payload", 1],
    ["signature", 2],
  ] as const)("in the %s: all 15 other spellings are refused, then the canonical one (its jti unspent) is accepted", async (_segment, index) => {
    const canonical = await assertionWithUnusedBits(index);
    const spellings = nonCanonicalSpellings(canonical.split(".")[index]!);
    expect(spellings).toHaveLength(15);
    for (const spelling of spellings) expectOAuthError(await requestToken(withSegment(canonical, index, spelling)), 401, "invalid_client");
    expectIssuedTo(await requestToken(canonical), INLINE);
  });
});

describe("private_key_jwt over POST /oauth2/token: malformed requests are 400 invalid_request", () => {
  it.each([
    ["client_assertion_type is SAML", async () => ({ client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", client_assertion: await inlineAssertion() })],
    ["client_assertion_type is missing", async () => ({ client_assertion: await inlineAssertion() })],
    ["client_assertion is missing", async () => ({ client_assertion_type: JWT_BEARER })],
    ["client_assertion is empty", async () => ({ client_assertion_type: JWT_BEARER, client_assertion: "" })],
    ["a client_secret comes with the assertion", async () => ({ ...assertionForm(await signAssertion(hybridKey, claims(HYBRID))), client_id: HYBRID, client_secret: hybridSecret })],
  ])("%s", async (_case, fields) => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", ...(await fields()) });
    expectOAuthError(result, 400, "invalid_request");
  });

  it("a Basic header comes with the assertion", async () => {
    const result = await requestToken(await signAssertion(hybridKey, claims(HYBRID)), {}, basic(HYBRID, hybridSecret));
    expectOAuthError(result, 400, "invalid_request");
  });
});

describe("private_key_jwt over POST /oauth2/token: accepted assertions", () => {
  it.each([
    ["ES256", () => es256],
    ["EdDSA", () => eddsa],
    ["RS256", () => rs256],
    ["PS256", () => ps256],
  ])("signed with %s by a key registered inline", async (_alg, key) => {
    const result = await requestToken(await inlineAssertion({}, key()));
    const token = expectIssuedTo(result, INLINE);
    expect(decodeJwt(token).scope).toBe("orders:read orders:write token:introspect");
  });

  it.each([
    ["the issuer", () => issuer],
    ["the token endpoint URL", () => tokenUrl],
    ["a list holding the issuer", () => ["https://elsewhere.test", issuer]],
  ])("with %s as aud", async (_case, aud) => {
    expectIssuedTo(await requestToken(await inlineAssertion({ aud: aud() })), INLINE);
  });

  it("with a matching client_id parameter, scope and resource", async () => {
    const result = await requestToken(await inlineAssertion(), { client_id: INLINE, scope: "orders:read" });
    const token = expectIssuedTo(result, INLINE);
    expect(decodeJwt(token).scope).toBe("orders:read");
  });

  it("without kid, when one registered key verifies it", async () => {
    expectIssuedTo(await requestToken(await signAssertion(es256, claims(INLINE), { kid: undefined })), INLINE);
  });

  it("a few seconds after exp (small clock skew), but not beyond the skew", async () => {
    const now = Math.floor(clock.now() / 1000);
    expectIssuedTo(await requestToken(await inlineAssertion({ iat: now - 70, exp: now - 10 })), INLINE);
    expectOAuthError(await requestToken(await inlineAssertion({ iat: now - 120, exp: now - 31 })), 401, "invalid_client");
  });

  it("until it expires: the same kind of assertion is refused once the clock passes exp + skew", async () => {
    const first = await inlineAssertion();
    const second = await inlineAssertion();
    clock.advance(60_000);
    expectIssuedTo(await requestToken(first), INLINE);
    clock.advance(31_000);
    expectOAuthError(await requestToken(second), 401, "invalid_client");
  });

  it("for a client whose keys are served at its jwks_uri, fetched once and then cached", async () => {
    const before = jwksHost.hits();
    expectIssuedTo(await requestToken(await signAssertion(remoteKey, claims(REMOTE))), REMOTE);
    expectIssuedTo(await requestToken(await signAssertion(remoteKey, claims(REMOTE))), REMOTE);
    expect(jwksHost.hits() - before).toBeLessThanOrEqual(1);
    expect(jwksHost.hits()).toBeGreaterThanOrEqual(1);
  });

  it("for a client registered for private_key_jwt and a secret method (it may use either)", async () => {
    expectIssuedTo(await requestToken(await signAssertion(hybridKey, claims(HYBRID))), HYBRID);
    const bySecret = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic(HYBRID, hybridSecret));
    expect(bySecret.status, bySecret.text).toBe(200);
  });
});

describe("private_key_jwt: a jti is accepted once", () => {
  it("the same assertion a second time is 401 invalid_client; a fresh jti works again", async () => {
    const assertion = await inlineAssertion();
    expectIssuedTo(await requestToken(assertion), INLINE);
    expectOAuthError(await requestToken(assertion), 401, "invalid_client");
    expectIssuedTo(await requestToken(await inlineAssertion()), INLINE);
  });

  it("a new assertion reusing a jti (even re-signed with another key) is refused", async () => {
    const jti = `jti-${clock.now()}`;
    expectIssuedTo(await requestToken(await inlineAssertion({ jti }, es256)), INLINE);
    expectOAuthError(await requestToken(await inlineAssertion({ jti }, eddsa)), 401, "invalid_client");
  });

  it("concurrent uses of one assertion: exactly one succeeds", async () => {
    const assertion = await inlineAssertion();
    const results = await Promise.all(Array.from({ length: 8 }, () => requestToken(assertion)));
    expect(results.map((result) => result.status).sort()).toEqual([200, 401, 401, 401, 401, 401, 401, 401]);
  });

  it("an assertion spent at the introspection endpoint cannot then buy a token", async () => {
    const assertion = await inlineAssertion();
    const introspected = await postForm(`${issuer}/oauth2/introspect`, { token: "x", ...assertionForm(assertion) });
    expect(introspected.status, introspected.text).toBe(200);
    expectOAuthError(await requestToken(assertion), 401, "invalid_client");
  });
});

describe("private_key_jwt at the introspection and revocation endpoints", () => {
  it("authenticates the caller of POST /oauth2/introspect and /oauth2/revoke", async () => {
    const token = expectIssuedTo(await requestToken(await inlineAssertion()), INLINE);
    const introspected = await postForm(`${issuer}/oauth2/introspect`, { token, ...assertionForm(await inlineAssertion()) });
    expect(introspected.json).toMatchObject({ active: true, client_id: INLINE });
    const revoked = await postForm(`${issuer}/oauth2/revoke`, { token, ...assertionForm(await inlineAssertion()) });
    expect(revoked.status, revoked.text).toBe(200);
    const after = await postForm(`${issuer}/oauth2/introspect`, { token, ...assertionForm(await inlineAssertion()) });
    expect(after.text).toBe('{"active":false}');
  });

  it("refuses a replayed assertion there too", async () => {
    const assertion = await inlineAssertion();
    expect((await postForm(`${issuer}/oauth2/introspect`, { token: "x", ...assertionForm(assertion) })).status).toBe(200);
    expectOAuthError(await postForm(`${issuer}/oauth2/revoke`, { token: "x", ...assertionForm(assertion) }), 401, "invalid_client");
  });
});

describe.each(Object.keys(transports) as (keyof typeof transports)[])("private_key_jwt over the IssueClientToken RPC (%s)", (name) => {
  const rpc = () => tokenClient(transports[name](server.url));

  async function rpcError(call: Promise<unknown>): Promise<{ code: Code; oauth: string | undefined }> {
    try {
      await call;
    } catch (error) {
      const connectError = ConnectError.from(error);
      return { code: connectError.code, oauth: connectError.findDetails(OAuthErrorDetailSchema)[0]?.error };
    }
    throw new Error("expected the call to fail");
  }

  it("issues a token for a valid assertion, then refuses its replay: Unauthenticated, invalid_client", async () => {
    const clientAssertion = await inlineAssertion();
    const response = await rpc().issueClientToken({ clientAssertionType: JWT_BEARER, clientAssertion, scopes: ["orders:read"] });
    expect(decodeJwt(response.accessToken)).toMatchObject({ client_id: INLINE, scope: "orders:read" });
    expect(await rpcError(rpc().issueClientToken({ clientAssertionType: JWT_BEARER, clientAssertion }))).toEqual({
      code: Code.Unauthenticated,
      oauth: "invalid_client",
    });
  });

  it("accepts a client_id field equal to iss, with a key from the client's jwks_uri", async () => {
    const response = await rpc().issueClientToken({
      clientId: REMOTE,
      clientAssertionType: JWT_BEARER,
      clientAssertion: await signAssertion(remoteKey, claims(REMOTE)),
    });
    expect(decodeJwt(response.accessToken).client_id).toBe(REMOTE);
  });

  it.each([
    ["alg none", async () => unsecuredJwt(claims(INLINE))],
    ["HS256", async () => hs256Jwt(hybridSecret, claims(HYBRID))],
    ["a foreign aud", async () => inlineAssertion({ aud: "https://evil.test" })],
    ["an expired exp", async () => inlineAssertion({ exp: Math.floor(clock.now() / 1000) - 120 })],
    ["no jti", async () => inlineAssertion({ jti: undefined })],
    ["iss ≠ sub", async () => inlineAssertion({ sub: REMOTE })],
    ["an unknown client", async () => signAssertion(es256, claims("no-such-client"))],
  ])("refuses %s: Unauthenticated, invalid_client", async (_case, assertion) => {
    expect(await rpcError(rpc().issueClientToken({ clientAssertionType: JWT_BEARER, clientAssertion: await assertion() }))).toEqual({
      code: Code.Unauthenticated,
      oauth: "invalid_client",
    });
  });

  it("refuses an assertion with a wrong type, or together with a client_secret: InvalidArgument, invalid_request", async () => {
    const clientAssertion = await signAssertion(hybridKey, claims(HYBRID));
    expect(await rpcError(rpc().issueClientToken({ clientAssertionType: "urn:x", clientAssertion }))).toEqual({
      code: Code.InvalidArgument,
      oauth: "invalid_request",
    });
    expect(
      await rpcError(rpc().issueClientToken({ clientId: HYBRID, clientSecret: hybridSecret, clientAssertionType: JWT_BEARER, clientAssertion })),
    ).toEqual({ code: Code.InvalidArgument, oauth: "invalid_request" });
  });

  it("shares the jti cache with the HTTP endpoint", async () => {
    const clientAssertion = await inlineAssertion();
    expectIssuedTo(await requestToken(clientAssertion), INLINE);
    expect(await rpcError(rpc().issueClientToken({ clientAssertionType: JWT_BEARER, clientAssertion }))).toEqual({
      code: Code.Unauthenticated,
      oauth: "invalid_client",
    });
  });
});

describe("private_key_jwt replay across two Tokensmith instances sharing one Store", () => {
  const SHARED_ISSUER = "http://tokensmith.test";
  let store: MemoryStore;
  let first: RunningServer;
  let second: RunningServer;

  beforeAll(async () => {
    store = new MemoryStore();
    const config = { issuer: SHARED_ISSUER, clients: [{ id: INLINE, jwks: { keys: [es256.publicJwk] }, scopes: ["orders:read"] }] };
    [first, second] = await Promise.all([startTestServer({ store, config }), startTestServer({ store, config })]);
  });

  afterAll(async () => {
    await Promise.all([first?.close(), second?.close()]);
    await store?.close();
  });

  const assertion = (overrides: Record<string, unknown> = {}) => signAssertion(es256, assertionClaims(INLINE, SHARED_ISSUER, Date.now(), overrides));
  const tokenAt = (target: RunningServer, clientAssertion: string) =>
    postForm(`${target.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(clientAssertion) });

  it("both instances accept fresh assertions addressed to the shared issuer", async () => {
    expect(first.domain.issuer).toBe(SHARED_ISSUER);
    expect(second.domain.issuer).toBe(SHARED_ISSUER);
    expectIssuedTo(await tokenAt(first, await assertion()), INLINE);
    expectIssuedTo(await tokenAt(second, await assertion()), INLINE);
  });

  it("an assertion used at one instance is refused by the other, in both directions", async () => {
    const one = await assertion();
    expectIssuedTo(await tokenAt(first, one), INLINE);
    expectOAuthError(await tokenAt(second, one), 401, "invalid_client");

    const two = await assertion({ aud: `${SHARED_ISSUER}/oauth2/token` });
    expectIssuedTo(await tokenAt(second, two), INLINE);
    expectOAuthError(await tokenAt(first, two), 401, "invalid_client");
  });

  it("racing one assertion at both instances: exactly one wins", async () => {
    const raced = await assertion();
    const results = await Promise.all([first, second, first, second].map((target) => tokenAt(target, raced)));
    expect(results.map((result) => result.status).sort()).toEqual([200, 401, 401, 401]);
  });
});

describe("private_key_jwt is bound to the client's registered methods (issue 16)", () => {
  it("a client registered for client_secret_basic only: its assertion is 401 invalid_client, its jwks_uri never fetched", async () => {
    expectOAuthError(await requestToken(await signAssertion(remoteKey, claims(SECRET_METHOD_ONLY))), 401, "invalid_client");
    expect(unusedJwksHost.hits()).toBe(0);
    const bySecret = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic(SECRET_METHOD_ONLY, hybridSecret));
    expect(bySecret.status, bySecret.text).toBe(200);
  });

  it("a client registered for private_key_jwt only has no secret: Basic and client_secret_post are 401 invalid_client", async () => {
    const viaBasic = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic(INLINE, hybridSecret));
    const viaPost = await postForm(tokenUrl, { grant_type: "client_credentials", client_id: INLINE, client_secret: hybridSecret });
    expect([viaBasic, viaPost].map((result) => ({ status: result.status, error: oauthErrorOf(result) }))).toEqual([
      { status: 401, error: "invalid_client" },
      { status: 401, error: "invalid_client" },
    ]);
  });
});

describe("private_key_jwt registration", () => {
  it("refuses a symmetric or private key in a client's jwks at start-up, naming the field", () => {
    for (const key of [symmetricKey, { ...es256.publicJwk, d: "AAAA" }]) {
      expect(() => parseConfig({ clients: [{ id: "c", jwks: { keys: [key] }, scopes: [] }] })).toThrow(/clients\.0\.jwks: .*public asymmetric keys only/);
    }
  });
});
