import { Code, ConnectError } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { RunningServer } from "../../src/server.js";
import { basic, startTestServer, testClient, tokenClient, transports, type TestClient } from "../support/tokensmith.js";

/**
 * IssueClientToken (RFC 6749 §4.4 client credentials) as a caller sees it on
 * the wire, through every protocol Tokensmith serves on its one port.
 */

const orders = testClient("orders-service", ["orders:read", "orders:write", "token:introspect"]);
/** RFC 6749 §2.3.1: the secret is form-urlencoded inside Basic, so these characters must survive. */
const awkward = testClient("awkward:client id", ["reports:read"], { secret: "p%2 +s:ec ret" });
const withAudiences = testClient("billing-service", ["billing:read", "billing:write"], {
  audiences: ["https://api.billing.test", "https://api.ledger.test"],
});
/** A '+' left raw in Basic decodes to a space: only the form-urlencoded secret may authenticate. */
const plus = testClient("plus-client", ["reports:read"], { secret: "a+b" });
const clients: TestClient[] = [orders, awkward, withAudiences, plus];

async function rpcError(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

function oauthError(error: ConnectError): string | undefined {
  const details = error.findDetails(OAuthErrorDetailSchema);
  expect(details, "exactly one OAuthErrorDetail").toHaveLength(1);
  return details[0]?.error;
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer({ clients });
});

afterAll(async () => {
  await server?.close();
});

describe.each(Object.keys(transports) as (keyof typeof transports)[])("IssueClientToken over %s", (name) => {
  const client = () => tokenClient(transports[name](server.url));

  describe("client authentication failures", () => {
    it("refuses a request without any credentials: Unauthenticated, invalid_client", async () => {
      const error = await rpcError(client().issueClientToken({}));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(oauthError(error)).toBe("invalid_client");
    });

    it("refuses a client_id without a secret: Unauthenticated, invalid_client", async () => {
      const error = await rpcError(client().issueClientToken({ clientId: orders.id }));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(oauthError(error)).toBe("invalid_client");
    });

    it("gives a wrong secret and an unknown client id the same code, reason and message", async () => {
      const wrongSecret = await rpcError(client().issueClientToken({}, { headers: basic(orders.id, `${orders.secret}x`) }));
      const unknownId = await rpcError(client().issueClientToken({}, { headers: basic("no-such-client", orders.secret) }));
      expect(wrongSecret.code).toBe(Code.Unauthenticated);
      expect(oauthError(wrongSecret)).toBe("invalid_client");
      expect(unknownId.code).toBe(wrongSecret.code);
      expect(oauthError(unknownId)).toBe(oauthError(wrongSecret));
      expect(unknownId.rawMessage).toBe(wrongSecret.rawMessage);
    });

    it.each([
      ["wrong secret", () => ({ clientId: orders.id, clientSecret: `${orders.secret}x` })],
      ["unknown client id", () => ({ clientId: "no-such-client", clientSecret: orders.secret })],
    ])("refuses client_secret_post with a %s: Unauthenticated, invalid_client", async (_case, fields) => {
      const error = await rpcError(client().issueClientToken(fields()));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(oauthError(error)).toBe("invalid_client");
      expect(error.rawMessage).not.toContain(orders.secret);
    });

    it("refuses Basic and client_secret together: InvalidArgument, invalid_request", async () => {
      const error = await rpcError(
        client().issueClientToken({ clientId: orders.id, clientSecret: orders.secret }, { headers: basic(orders.id, orders.secret) }),
      );
      expect(error.code).toBe(Code.InvalidArgument);
      expect(oauthError(error)).toBe("invalid_request");
    });

    it("refuses a client_id field that names another client than the Basic header: InvalidArgument", async () => {
      const error = await rpcError(client().issueClientToken({ clientId: withAudiences.id }, { headers: basic(orders.id, orders.secret) }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(oauthError(error)).toBe("invalid_request");
    });

    it.each([
      ["not base64", "Basic !!not*base64!!"],
      ["base64 without a ':' separator", `Basic ${base64("orders-service")}`],
      ["bad percent-encoding in the secret", `Basic ${base64("orders-service:%zz")}`],
      ["bad percent-encoding in the id", `Basic ${base64("orders%E0%A4%A-service:secret")}`],
      ["an empty credential", "Basic ="],
    ])("refuses a malformed Basic header (%s): InvalidArgument, invalid_request", async (_case, authorization) => {
      const error = await rpcError(client().issueClientToken({}, { headers: { authorization } }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(oauthError(error)).toBe("invalid_request");
    });
  });

  describe("client authentication", () => {
    it("accepts client_secret_basic", async () => {
      const response = await client().issueClientToken({}, { headers: basic(orders.id, orders.secret) });
      expect(response.tokenType).toBe("Bearer");
      expect(decodeJwt(response.accessToken).client_id).toBe(orders.id);
    });

    it("accepts a Basic scheme name in any case", async () => {
      const authorization = basic(orders.id, orders.secret).authorization.replace(/^Basic/, "bAsIc");
      const response = await client().issueClientToken({}, { headers: { authorization } });
      expect(decodeJwt(response.accessToken).client_id).toBe(orders.id);
    });

    it("accepts a secret with '%', '+', ':' and a space, form-urlencoded in Basic (RFC 6749 §2.3.1)", async () => {
      const response = await client().issueClientToken({}, { headers: basic(awkward.id, awkward.secret) });
      expect(decodeJwt(response.accessToken).client_id).toBe(awkward.id);
    });

    it("refuses the same secret put in Basic without form-urlencoding: '%2 ' is a bad escape, InvalidArgument", async () => {
      const authorization = `Basic ${base64(`${encodeURIComponent(awkward.id)}:${awkward.secret}`)}`;
      const error = await rpcError(client().issueClientToken({}, { headers: { authorization } }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(oauthError(error)).toBe("invalid_request");
    });

    it("does not authenticate a secret whose '+' was left raw in Basic ('+' means a space), but does once encoded", async () => {
      const raw = `Basic ${base64(`${plus.id}:${plus.secret}`)}`;
      const error = await rpcError(client().issueClientToken({}, { headers: { authorization: raw } }));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(oauthError(error)).toBe("invalid_client");
      const response = await client().issueClientToken({}, { headers: basic(plus.id, plus.secret) });
      expect(decodeJwt(response.accessToken).client_id).toBe(plus.id);
    });

    it("accepts the same secret verbatim as client_secret_post fields", async () => {
      const response = await client().issueClientToken({ clientId: awkward.id, clientSecret: awkward.secret });
      expect(decodeJwt(response.accessToken).client_id).toBe(awkward.id);
    });

    it("accepts Basic with a client_id field that names the same client", async () => {
      const response = await client().issueClientToken({ clientId: orders.id }, { headers: basic(orders.id, orders.secret) });
      expect(decodeJwt(response.accessToken).client_id).toBe(orders.id);
    });
  });

  describe("scopes", () => {
    it("refuses a scope the client may not have: PermissionDenied, invalid_scope, naming the scope", async () => {
      const error = await rpcError(
        client().issueClientToken({ scopes: ["orders:read", "orders:delete"] }, { headers: basic(orders.id, orders.secret) }),
      );
      expect(error.code).toBe(Code.PermissionDenied);
      expect(oauthError(error)).toBe("invalid_scope");
      expect(error.rawMessage).toContain("orders:delete");
      expect(error.rawMessage).not.toContain("orders:read");
    });

    it("refuses a scope that belongs to another client", async () => {
      const error = await rpcError(client().issueClientToken({ scopes: ["billing:read"] }, { headers: basic(orders.id, orders.secret) }));
      expect(error.code).toBe(Code.PermissionDenied);
      expect(oauthError(error)).toBe("invalid_scope");
      expect(error.rawMessage).toContain("billing:read");
    });

    it.each([
      ["a space", ["orders:read orders:write"]],
      ["a double quote", ['orders:"read"']],
      ["a backslash", ["orders\\read"]],
      ["an empty string", [""]],
      ["200 characters", ["s".repeat(200)]],
      ["a non-ASCII character", ["orders:lire·"]],
      ["101 scopes", Array.from({ length: 101 }, (_, i) => `scope:${i}`)],
    ])("refuses a malformed scope list (%s): InvalidArgument", async (_case, scopes) => {
      const error = await rpcError(client().issueClientToken({ scopes }, { headers: basic(orders.id, orders.secret) }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(oauthError(error)).toBe("invalid_scope");
    });

    it("treats 100 well-formed scopes as within the size limit (then refuses them as not allowed)", async () => {
      const scopes = Array.from({ length: 100 }, (_, i) => `scope:${i}`);
      const error = await rpcError(client().issueClientToken({ scopes }, { headers: basic(orders.id, orders.secret) }));
      expect(error.code).toBe(Code.PermissionDenied);
      expect(oauthError(error)).toBe("invalid_scope");
    });

    it.each([
      ["none requested: every scope of the client", [], orders.scopes],
      ["a subset", ["orders:read"], ["orders:read"]],
      ["all of them, in the requested order", ["token:introspect", "orders:read"], ["token:introspect", "orders:read"]],
      ["a duplicate, granted once", ["orders:write", "orders:write"], ["orders:write"]],
    ])("grants %s", async (_case, requested, granted) => {
      const response = await client().issueClientToken({ scopes: requested }, { headers: basic(orders.id, orders.secret) });
      expect(response.scopes).toEqual(granted);
      expect(decodeJwt(response.accessToken).scope).toBe(granted.join(" "));
    });
  });

  describe("audience (RFC 8707 resource indicators)", () => {
    it("refuses an audience that is not registered on the client: PermissionDenied, invalid_target, naming it", async () => {
      const error = await rpcError(
        client().issueClientToken(
          { audience: ["https://api.billing.test", "https://evil.test"] },
          { headers: basic(withAudiences.id, withAudiences.secret) },
        ),
      );
      expect(error.code).toBe(Code.PermissionDenied);
      expect(oauthError(error)).toBe("invalid_target");
      expect(error.rawMessage).toContain("https://evil.test");
    });

    it("refuses any requested audience for a client without registered audiences", async () => {
      const error = await rpcError(
        client().issueClientToken({ audience: ["https://api.billing.test"] }, { headers: basic(orders.id, orders.secret) }),
      );
      expect(error.code).toBe(Code.PermissionDenied);
      expect(oauthError(error)).toBe("invalid_target");
    });

    it.each([
      ["with a space", ["https://api.billing.test extra"]],
      ["empty", [""]],
      ["longer than 512 characters", [`https://${"a".repeat(520)}.test`]],
      ["more than 20 of them", Array.from({ length: 21 }, (_, i) => `https://api${i}.test`)],
    ])("refuses a malformed audience (%s): InvalidArgument, invalid_request", async (_case, audience) => {
      const error = await rpcError(client().issueClientToken({ audience }, { headers: basic(withAudiences.id, withAudiences.secret) }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(oauthError(error)).toBe("invalid_request");
    });

    it("defaults aud to the issuer when the client has no registered audience", async () => {
      const response = await client().issueClientToken({}, { headers: basic(orders.id, orders.secret) });
      expect(decodeJwt(response.accessToken).aud).toBe(server.domain.issuer);
    });

    it("defaults aud to every registered audience of the client", async () => {
      const response = await client().issueClientToken({}, { headers: basic(withAudiences.id, withAudiences.secret) });
      expect(decodeJwt(response.accessToken).aud).toEqual(withAudiences.audiences);
    });

    it("puts exactly the requested registered audience in aud", async () => {
      const response = await client().issueClientToken(
        { audience: ["https://api.ledger.test"] },
        { headers: basic(withAudiences.id, withAudiences.secret) },
      );
      expect(decodeJwt(response.accessToken).aud).toBe("https://api.ledger.test");
    });
  });

  it("answers with a Bearer token, its lifetime and the granted scopes", async () => {
    const response = await client().issueClientToken({ scopes: ["orders:read"] }, { headers: basic(orders.id, orders.secret) });
    const claims = decodeJwt(response.accessToken);
    expect(response.tokenType).toBe("Bearer");
    expect(response.expiresIn).toBe(3600n);
    expect(claims.exp).toBe((claims.iat ?? 0) + 3600);
    expect(response.scopes).toEqual(["orders:read"]);
    expect(server.domain.accessTokens.verify(response.accessToken)).toMatchObject({ ok: true });
  });
});
