import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { FORM, JWT_BEARER, oauthErrorOf, postChunked, postForm, type FormInput, type HttpResult } from "../support/oauth.js";
import { basic, startTestServer, testClient, type TestClient } from "../support/tokensmith.js";

/**
 * POST /oauth2/token (RFC 6749 §4.4 client credentials, §5.1 / §5.2 answers,
 * RFC 8707 resource indicators) spoken with plain fetch, byte for byte.
 */

const orders = testClient("orders-service", ["orders:read", "orders:write"]);
/** RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic. */
const awkward = testClient("awkward:client id", ["reports:read"], { secret: "p%2 +s:ec ret&=" });
const billing = testClient("billing-service", ["billing:read"], {
  audiences: ["https://api.billing.test", "https://api.ledger.test"],
  tokenLifetimeSeconds: 300,
});
const plus = testClient("plus-client", ["reports:read"], { secret: "tks+plus+secret" });
const clients: TestClient[] = [orders, awkward, billing, plus];

let server: RunningServer;
let tokenUrl: string;

beforeAll(async () => {
  server = await startTestServer({ clients });
  tokenUrl = `${server.url}/oauth2/token`;
});

afterAll(async () => {
  await server?.close();
});

const ordersBasic = () => basic(orders.id, orders.secret);
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

function expectNoStore(result: HttpResult): void {
  expect(result.headers.get("cache-control")).toBe("no-store");
}

/** An RFC 6749 §5.2 error: status, JSON content type, exactly {error, error_description}, never cached. */
function expectOAuthError(result: HttpResult, status: number, error: string): void {
  expect({ status: result.status, error: oauthErrorOf(result) }, result.text).toEqual({ status, error });
  expect(result.headers.get("content-type")).toMatch(/^application\/json/);
  expectNoStore(result);
}

describe("POST /oauth2/token: malformed requests are 400 invalid_request", () => {
  const cases: [string, () => { form: FormInput; headers?: Record<string, string> }][] = [
    ["grant_type is missing", () => ({ form: { scope: "orders:read" }, headers: ordersBasic() })],
    ["grant_type is empty", () => ({ form: { grant_type: "" }, headers: ordersBasic() })],
    ["the body is empty", () => ({ form: "", headers: ordersBasic() })],
    [
      "grant_type is repeated",
      () => ({ form: [["grant_type", "client_credentials"], ["grant_type", "client_credentials"]], headers: ordersBasic() }),
    ],
    [
      "scope is repeated",
      () => ({ form: [["grant_type", "client_credentials"], ["scope", "orders:read"], ["scope", "orders:write"]], headers: ordersBasic() }),
    ],
    [
      "client_id is repeated (client_secret_post)",
      () => ({
        form: [["grant_type", "client_credentials"], ["client_id", orders.id], ["client_id", orders.id], ["client_secret", orders.secret]],
      }),
    ],
    [
      "client_secret is repeated",
      () => ({
        form: [["grant_type", "client_credentials"], ["client_id", orders.id], ["client_secret", orders.secret], ["client_secret", orders.secret]],
      }),
    ],
    [
      "Basic and client_secret in the body are both used",
      () => ({ form: { grant_type: "client_credentials", client_id: orders.id, client_secret: orders.secret }, headers: ordersBasic() }),
    ],
    [
      "Basic and a client assertion are both used",
      () => ({
        form: { grant_type: "client_credentials", client_assertion_type: JWT_BEARER, client_assertion: "a.b.c" },
        headers: ordersBasic(),
      }),
    ],
    [
      "a body client_id names another client than Basic",
      () => ({ form: { grant_type: "client_credentials", client_id: billing.id }, headers: ordersBasic() }),
    ],
    ["Basic is not base64", () => ({ form: { grant_type: "client_credentials" }, headers: { authorization: "Basic !!not*base64!!" } })],
    [
      "Basic has no ':' separator",
      () => ({ form: { grant_type: "client_credentials" }, headers: { authorization: `Basic ${b64(orders.id)}` } }),
    ],
    [
      "Basic has a bad percent-escape",
      () => ({ form: { grant_type: "client_credentials" }, headers: { authorization: `Basic ${b64(`${orders.id}:%zz`)}` } }),
    ],
    ["Basic is empty", () => ({ form: { grant_type: "client_credentials" }, headers: { authorization: "Basic " } })],
    ["client_secret comes without client_id", () => ({ form: { grant_type: "client_credentials", client_secret: orders.secret } })],
    [
      "client_assertion_type is not jwt-bearer",
      () => ({
        form: {
          grant_type: "client_credentials",
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
          client_assertion: "PHNhbWw+",
        },
      }),
    ],
    ["client_assertion_type comes without client_assertion", () => ({ form: { grant_type: "client_credentials", client_assertion_type: JWT_BEARER } })],
    [
      "a resource contains a space",
      () => ({ form: { grant_type: "client_credentials", resource: "https://api.billing.test extra" }, headers: basic(billing.id, billing.secret) }),
    ],
    [
      "more than 20 resources are asked for",
      () => ({
        form: [["grant_type", "client_credentials"], ...Array.from({ length: 21 }, (_, i): [string, string] => ["resource", `https://api${i}.test`])],
        headers: basic(billing.id, billing.secret),
      }),
    ],
  ];

  it.each(cases)("%s", async (_case, build) => {
    const { form, headers } = build();
    expectOAuthError(await postForm(tokenUrl, form, headers), 400, "invalid_request");
  });

  it.each([
    ["application/json", JSON.stringify({ grant_type: "client_credentials" })],
    ["text/plain", "grant_type=client_credentials"],
    ["multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--\r\n'],
  ])("the body is %s instead of a form", async (contentType, body) => {
    const result = await postForm(tokenUrl, body, { ...ordersBasic(), "content-type": contentType });
    expectOAuthError(result, 400, "invalid_request");
  });

  it("a form of more than 64 KiB (with Content-Length) is refused with 400, not 500 or a dropped connection", async () => {
    const form = `grant_type=client_credentials&scope=${"a".repeat(64 * 1024)}`;
    const result = await postForm(tokenUrl, form, ordersBasic());
    expectOAuthError(result, 400, "invalid_request");
    expect((result.json as { error_description: string }).error_description).toMatch(/too large/);
  });

  it("a chunked form of more than 64 KiB (no Content-Length) is refused with 400, not a dropped connection", async () => {
    const chunks = [Buffer.from("grant_type=client_credentials&scope="), ...Array.from({ length: 9 }, () => Buffer.alloc(8 * 1024, "a"))];
    const result = await postChunked(tokenUrl, chunks, ordersBasic());
    expect(result, "the server dropped the connection instead of answering").not.toHaveProperty("error");
    if ("error" in result) return;
    expect(result.status).toBe(400);
    expect(JSON.parse(result.text)).toMatchObject({ error: "invalid_request" });
  });

  it("a chunked form under 64 KiB is read whole", async () => {
    const chunks = [Buffer.from("grant_type=client_"), Buffer.from("credentials&scope=orders"), Buffer.from("%3Aread")];
    const result = await postChunked(tokenUrl, chunks, ordersBasic());
    if ("error" in result) throw result.error;
    expect(result.status).toBe(200);
    expect(JSON.parse(result.text)).toMatchObject({ scope: "orders:read" });
  });

  it("a GET is 405 with Allow: POST", async () => {
    const response = await fetch(`${tokenUrl}?grant_type=client_credentials`, { headers: ordersBasic() });
    await response.body?.cancel();
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });
});

describe("POST /oauth2/token: grant types", () => {
  it.each(["authorization_code", "password", "refresh_token", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "CLIENT_CREDENTIALS"])(
    "grant_type=%s is 400 unsupported_grant_type",
    async (grantType) => {
      const result = await postForm(tokenUrl, { grant_type: grantType, refresh_token: "x", code: "y" }, ordersBasic());
      expectOAuthError(result, 400, "unsupported_grant_type");
    },
  );
});

describe("POST /oauth2/token: client authentication failures are 401 invalid_client", () => {
  it("no client authentication at all", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials" });
    expectOAuthError(result, 401, "invalid_client");
  });

  it("a client_id alone (no secret, no assertion): there are no public clients", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", client_id: orders.id });
    expectOAuthError(result, 401, "invalid_client");
  });

  it.each([
    ["a wrong secret", () => basic(orders.id, `${orders.secret}x`)],
    ["an unknown client id", () => basic("no-such-client", orders.secret)],
    ["an empty secret", () => basic(orders.id, "")],
    ["the secret of another client", () => basic(orders.id, billing.secret)],
    // RFC 6749 §2.3.1: the server form-decodes the secret, so a raw '+' reads as a space and no longer matches.
    ["a '+' in the secret left unencoded", () => ({ authorization: `Basic ${b64(`${plus.id}:${plus.secret}`)}` })],
  ])("Basic with %s: 401 and WWW-Authenticate: Basic realm=...", async (_case, headers) => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials" }, headers());
    expectOAuthError(result, 401, "invalid_client");
    expect(result.headers.get("www-authenticate")).toMatch(/^Basic realm="[^"]+"/);
  });

  it("a wrong secret and an unknown id get the same body", async () => {
    const wrong = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic(orders.id, `${orders.secret}x`));
    const unknown = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic("no-such-client", orders.secret));
    expect(unknown.text).toBe(wrong.text);
  });

  it.each([
    ["a wrong secret", () => ({ client_id: orders.id, client_secret: `${orders.secret}x` })],
    ["an unknown client id", () => ({ client_id: "no-such-client", client_secret: orders.secret })],
  ])("client_secret_post with %s", async (_case, fields) => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", ...fields() });
    expectOAuthError(result, 401, "invalid_client");
    expect(result.text).not.toContain(orders.secret);
  });

  it("a malformed client assertion", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", client_assertion_type: JWT_BEARER, client_assertion: "not-a-jwt" });
    expectOAuthError(result, 401, "invalid_client");
  });
});

describe("POST /oauth2/token: scope and resource refusals", () => {
  it("a scope the client may not have is 400 invalid_scope naming it", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", scope: "orders:read orders:delete" }, ordersBasic());
    expectOAuthError(result, 400, "invalid_scope");
    expect((result.json as { error_description: string }).error_description).toContain("orders:delete");
  });

  it.each([
    ["a double quote", 'orders:"read"'],
    ["a backslash", "orders\\read"],
    ["a non-ASCII character", "orders:lire·"],
    ["101 scopes", Array.from({ length: 101 }, (_, i) => `s:${i}`).join(" ")],
  ])("a malformed scope (%s) is 400 invalid_scope", async (_case, scope) => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", scope }, ordersBasic());
    expectOAuthError(result, 400, "invalid_scope");
  });

  it("a resource the client is not registered for is 400 invalid_target (RFC 8707 §2)", async () => {
    const result = await postForm(
      tokenUrl,
      [["grant_type", "client_credentials"], ["resource", "https://api.billing.test"], ["resource", "https://evil.test"]],
      basic(billing.id, billing.secret),
    );
    expectOAuthError(result, 400, "invalid_target");
    expect((result.json as { error_description: string }).error_description).toContain("https://evil.test");
  });
});

describe("POST /oauth2/token: access token responses (RFC 6749 §5.1)", () => {
  it("answers client_secret_basic with exactly access_token, token_type, expires_in and scope, uncached", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials" }, ordersBasic());
    expect(result.status).toBe(200);
    expect(result.headers.get("content-type")).toMatch(/^application\/json/);
    expectNoStore(result);
    expect(result.headers.get("pragma")).toBe("no-cache");
    const body = result.json as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "scope", "token_type"]);
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3600, scope: "orders:read orders:write" });
    expect(body).not.toHaveProperty("refresh_token");
  });

  it("issues an RFC 9068 JWT: typ at+jwt, a published kid, iss, sub = client_id, jti, exp = iat + expires_in", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", scope: "orders:read" }, ordersBasic());
    const body = result.json as { access_token: string; expires_in: number };
    const header = decodeProtectedHeader(body.access_token);
    const claims = decodeJwt(body.access_token);
    expect(header.typ).toBe("at+jwt");
    expect(server.domain.keyRing.publicJwks().map((key) => key.kid)).toContain(header.kid);
    expect(claims).toMatchObject({ iss: server.domain.issuer, sub: orders.id, client_id: orders.id, scope: "orders:read", aud: server.domain.issuer });
    expect(typeof claims.jti).toBe("string");
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(body.expires_in);
  });

  it("accepts client_secret_post", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", client_id: orders.id, client_secret: orders.secret });
    expect(result.status, result.text).toBe(200);
    expect(decodeJwt((result.json as { access_token: string }).access_token).client_id).toBe(orders.id);
  });

  it("accepts a Basic header with form-urlencoded id and secret holding ':', '%', '+', '&', '=' and spaces", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic(awkward.id, awkward.secret));
    expect(result.status, result.text).toBe(200);
    expect(decodeJwt((result.json as { access_token: string }).access_token).client_id).toBe(awkward.id);
  });

  it("accepts the same awkward secret as body fields", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", client_id: awkward.id, client_secret: awkward.secret });
    expect(result.status, result.text).toBe(200);
  });

  it("accepts Basic with a body client_id naming the same client", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", client_id: orders.id }, ordersBasic());
    expect(result.status, result.text).toBe(200);
  });

  it("accepts a content type with a charset parameter, in any case", async () => {
    const result = await postForm(tokenUrl, "grant_type=client_credentials", {
      ...ordersBasic(),
      "content-type": `${FORM.toUpperCase()}; charset=UTF-8`,
    });
    expect(result.status, result.text).toBe(200);
  });

  it.each([
    ["one scope", "orders:write", "orders:write"],
    ["a space-separated list, in the requested order", "orders:write orders:read", "orders:write orders:read"],
    ["a duplicate, granted once", "orders:read orders:read", "orders:read"],
    ["an empty scope: every scope of the client", "", "orders:read orders:write"],
  ])("grants %s", async (_case, scope, granted) => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", scope }, ordersBasic());
    expect(result.status, result.text).toBe(200);
    const body = result.json as { access_token: string; scope: string };
    expect(body.scope).toBe(granted);
    expect(decodeJwt(body.access_token).scope).toBe(granted);
  });

  it("decodes '+' and percent-escapes in a form-encoded scope", async () => {
    const result = await postForm(tokenUrl, "grant_type=client_credentials&scope=orders%3Aread+orders%3Awrite", ordersBasic());
    expect((result.json as { scope: string }).scope).toBe("orders:read orders:write");
  });

  it("puts one resource in aud as a string (RFC 8707)", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials", resource: "https://api.ledger.test" }, basic(billing.id, billing.secret));
    expect(result.status, result.text).toBe(200);
    const body = result.json as { access_token: string; expires_in: number };
    expect(decodeJwt(body.access_token).aud).toBe("https://api.ledger.test");
    expect(body.expires_in).toBe(300);
  });

  it("puts repeated resources in aud as a list", async () => {
    const result = await postForm(
      tokenUrl,
      [["grant_type", "client_credentials"], ["resource", "https://api.ledger.test"], ["resource", "https://api.billing.test"]],
      basic(billing.id, billing.secret),
    );
    expect(result.status, result.text).toBe(200);
    expect(decodeJwt((result.json as { access_token: string }).access_token).aud).toEqual(["https://api.ledger.test", "https://api.billing.test"]);
  });

  it("defaults aud to every registered audience when no resource is asked for", async () => {
    const result = await postForm(tokenUrl, { grant_type: "client_credentials" }, basic(billing.id, billing.secret));
    expect(decodeJwt((result.json as { access_token: string }).access_token).aud).toEqual(billing.audiences);
  });

  it("issues a distinct token (jti) each time", async () => {
    const first = await postForm(tokenUrl, { grant_type: "client_credentials" }, ordersBasic());
    const second = await postForm(tokenUrl, { grant_type: "client_credentials" }, ordersBasic());
    const jtiOf = (result: HttpResult) => decodeJwt((result.json as { access_token: string }).access_token).jti;
    expect(jtiOf(first)).not.toBe(jtiOf(second));
  });

  it("keeps the connection usable after a refused oversized body", async () => {
    const refused = await postForm(tokenUrl, `grant_type=client_credentials&x=${"b".repeat(70 * 1024)}`, ordersBasic());
    expect(refused.status).toBe(400);
    const result = await postForm(tokenUrl, { grant_type: "client_credentials" }, ordersBasic());
    expect(result.status).toBe(200);
  });
});
