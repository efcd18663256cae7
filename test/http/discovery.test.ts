import { compactVerify, decodeProtectedHeader, importJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { httpGet, postForm, type HttpResult } from "../support/oauth.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * GET /.well-known/oauth-authorization-server (RFC 8414) and
 * /.well-known/jwks.json (RFC 7517): correct, self-consistent and cacheable.
 */

const orders = testClient("orders-service", ["orders:read", "token:introspect"]);
const billing = testClient("billing-service", ["billing:read"]);
const operator = testClient("operator", ["tokensmith:admin", "token:delete", "internal:audit"]);

let server: RunningServer;
let configured: RunningServer;

beforeAll(async () => {
  [server, configured] = await Promise.all([
    startTestServer({ clients: [orders, billing, operator] }),
    startTestServer({
      clients: [orders, operator],
      config: { issuer: "https://tokens.example.test/", signingAlgorithm: "ES256", publicScopes: ["orders:read", "billing:read"] },
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.close(), configured?.close()]);
});

const metadataOf = async (target: RunningServer) => {
  const result = await httpGet(`${target.url}/.well-known/oauth-authorization-server`);
  expect(result.status, result.text).toBe(200);
  return result;
};
const asObject = (result: HttpResult) => result.json as Record<string, unknown>;

/** Public and a positive max-age; never no-store or private. */
function expectCacheable(result: HttpResult): number {
  const cacheControl = result.headers.get("cache-control") ?? "";
  const directives = cacheControl.split(",").map((part) => part.trim().toLowerCase());
  expect(directives).toContain("public");
  expect(directives.some((part) => ["no-store", "no-cache", "private"].includes(part))).toBe(false);
  const maxAge = directives.find((part) => part.startsWith("max-age="));
  expect(maxAge, cacheControl).toBeDefined();
  const seconds = Number(maxAge?.slice("max-age=".length));
  expect(seconds).toBeGreaterThan(0);
  return seconds;
}

describe("the well-known documents refuse other methods", () => {
  it.each(["/.well-known/oauth-authorization-server", "/.well-known/jwks.json"])("POST %s is 405 with Allow: GET, HEAD", async (path) => {
    const result = await postForm(`${server.url}${path}`, "x=1");
    expect(result.status).toBe(405);
    expect(result.headers.get("allow")).toBe("GET, HEAD");
  });

  it.each(["/.well-known/oauth-authorization-server", "/.well-known/jwks.json"])("HEAD %s answers 200 without a body", async (path) => {
    const result = await httpGet(`${server.url}${path}`, { method: "HEAD" });
    expect(result.status).toBe(200);
    expect(result.text).toBe("");
  });
});

describe("GET /.well-known/oauth-authorization-server (RFC 8414)", () => {
  it("is JSON and cacheable (public, max-age)", async () => {
    const result = await metadataOf(server);
    expect(result.headers.get("content-type")).toMatch(/^application\/json/);
    expectCacheable(result);
  });

  it("ignores a query string", async () => {
    const result = await httpGet(`${server.url}/.well-known/oauth-authorization-server?x=1`);
    expect(asObject(result).issuer).toBe(server.domain.issuer);
  });

  it("names the issuer the tokens carry, and endpoints under it (§3.3: issuer = the URL it was fetched from)", async () => {
    const metadata = asObject(await metadataOf(server));
    const issuer = server.url;
    expect(metadata).toMatchObject({
      issuer,
      token_endpoint: `${issuer}/oauth2/token`,
      introspection_endpoint: `${issuer}/oauth2/introspect`,
      revocation_endpoint: `${issuer}/oauth2/revoke`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
    });
    const token = await postForm(`${issuer}/oauth2/token`, { grant_type: "client_credentials" }, basic(orders.id, orders.secret));
    expect(JSON.parse(Buffer.from((token.json as { access_token: string }).access_token.split(".")[1] ?? "", "base64url").toString()).iss).toBe(
      metadata.issuer,
    );
  });

  it("uses the configured issuer (without its trailing slash) for every URL", async () => {
    const metadata = asObject(await metadataOf(configured));
    expect(metadata.issuer).toBe("https://tokens.example.test");
    for (const name of ["token_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri"]) {
      expect(String(metadata[name]).startsWith("https://tokens.example.test/"), name).toBe(true);
    }
  });

  it("offers client_credentials and token exchange, no authorization endpoint, and the three client authentication methods", async () => {
    const metadata = asObject(await metadataOf(server));
    expect(metadata.grant_types_supported).toEqual(["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]);
    expect(metadata).not.toHaveProperty("authorization_endpoint");
    expect(Array.isArray(metadata.response_types_supported)).toBe(true);
    for (const name of ["token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"]) {
      expect([...(metadata[name] as string[])].sort(), name).toEqual(["client_secret_basic", "client_secret_post", "private_key_jwt"]);
    }
  });

  it("advertises only asymmetric assertion algorithms: never none, never HS*", async () => {
    const metadata = asObject(await metadataOf(server));
    for (const name of [
      "token_endpoint_auth_signing_alg_values_supported",
      "introspection_endpoint_auth_signing_alg_values_supported",
      "revocation_endpoint_auth_signing_alg_values_supported",
    ]) {
      const algs = metadata[name] as string[];
      expect(algs, name).toEqual(expect.arrayContaining(["ES256", "EdDSA", "RS256"]));
      expect(algs.filter((alg) => alg === "none" || alg.startsWith("HS")), name).toEqual([]);
    }
  });

  it("names the access token signing algorithm", async () => {
    expect(asObject(await metadataOf(server)).access_token_signing_alg_values_supported).toEqual(["EdDSA"]);
    expect(asObject(await metadataOf(configured)).access_token_signing_alg_values_supported).toEqual(["ES256"]);
  });

  it("tells anonymous callers no scope by default: no scopes_supported, and no privileged or internal scope anywhere", async () => {
    const metadata = await metadataOf(server);
    expect(asObject(metadata)).not.toHaveProperty("scopes_supported");
    for (const scope of ["tokensmith:admin", "token:delete", "token:introspect", "internal:audit", "orders:read"]) expect(metadata.text).not.toContain(scope);
  });

  it("lists exactly the configured publicScopes, sorted", async () => {
    const metadata = await metadataOf(configured);
    expect(asObject(metadata).scopes_supported).toEqual(["billing:read", "orders:read"]);
    expect(metadata.text).not.toContain("tokensmith:admin");
  });

  it("serves every endpoint it advertises", async () => {
    const metadata = asObject(await metadataOf(server)) as Record<string, string>;
    const jwks = await httpGet(metadata.jwks_uri ?? "");
    expect(jwks.status).toBe(200);
    for (const name of ["token_endpoint", "introspection_endpoint", "revocation_endpoint"]) {
      // Unauthenticated: the endpoint exists and says invalid_client rather than 404.
      const result = await postForm(metadata[name] ?? "", { grant_type: "client_credentials", token: "x" });
      expect({ name, status: result.status, error: (result.json as { error?: string }).error }).toEqual({ name, status: 401, error: "invalid_client" });
    }
  });
});

describe("GET /.well-known/jwks.json (RFC 7517)", () => {
  it("is JSON and cacheable (public, max-age), for a shorter time than a token lives", async () => {
    const result = await httpGet(`${server.url}/.well-known/jwks.json`);
    expect(result.status).toBe(200);
    expect(result.headers.get("content-type")).toMatch(/^application\/json/);
    expect(expectCacheable(result)).toBeLessThan(3600);
  });

  it("publishes public signing keys only, each with kid, alg and use=sig", async () => {
    const { keys } = (await httpGet(`${server.url}/.well-known/jwks.json`)).json as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
      expect(typeof key.kid).toBe("string");
      for (const privateMember of ["d", "p", "q", "dp", "dq", "qi", "k"]) expect(key).not.toHaveProperty(privateMember);
    }
    const es256 = (await httpGet(`${configured.url}/.well-known/jwks.json`)).json as { keys: Record<string, unknown>[] };
    expect(es256.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(es256.keys[0]).not.toHaveProperty("d");
  });

  it.each([
    ["EdDSA", () => server],
    ["ES256", () => configured],
  ])("holds the %s key, found by kid, that verifies an issued token", async (_alg, target) => {
    const token = await postForm(`${target().url}/oauth2/token`, { grant_type: "client_credentials" }, basic(orders.id, orders.secret));
    const accessToken = (token.json as { access_token: string }).access_token;
    const { keys } = (await httpGet(`${target().url}/.well-known/jwks.json`)).json as { keys: (Record<string, unknown> & { kid: string; alg: string })[] };
    const header = decodeProtectedHeader(accessToken);
    const jwk = keys.find((key) => key.kid === header.kid);
    expect(jwk, "the token's kid is published").toBeDefined();
    const verified = await compactVerify(accessToken, await importJWK(jwk ?? {}, jwk?.alg));
    expect(verified.protectedHeader.alg).toBe(jwk?.alg);
  });
});
