import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as packageRoot from "tokensmith";
import * as packageWeb from "tokensmith/web";
import { TokenService as GeneratedTokenService } from "tokensmith/gen/tokensmith/v1/token_service_pb.js";
import { TokenService as GeneratedWithoutExtension } from "tokensmith/gen/tokensmith/v1/token_service_pb";
import {
  basicAuthorization,
  Code,
  ConnectError,
  createTokenClient,
  oauthErrorOf,
  TokenService,
  type TokenClient,
  type TokenClientOptions,
} from "../../src/client/index.js";
import { createTokenClient as createWebTokenClient, type WebTokenClientOptions } from "../../src/client/web.js";
import type { RunningServer } from "../../src/server.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

/**
 * createTokenClient, what users import as "tokensmith" (Node) and
 * "tokensmith/web" (browsers; here on Node's own fetch): a typed
 * TokenService client over each protocol Tokensmith serves.
 */

const orders = testClient("orders-service", ["orders:read", "token:introspect"]);
/** RFC 6749 §2.3.1: id and secret are form-encoded inside Basic; these must survive the client's encoder. */
const awkward = testClient("awkward:client id", ["reports:read"], { secret: "p%2 +s:ec ret/é" });

let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer({ clients: [orders, awkward] });
});

afterAll(async () => {
  await server?.close();
});

const variants: Record<string, (baseUrl: string, extra?: Partial<TokenClientOptions & WebTokenClientOptions>) => TokenClient> = {
  "node, connect JSON over HTTP/2 (the default)": (baseUrl, extra) => createTokenClient({ baseUrl, ...extra }),
  "node, connect binary over HTTP/1.1": (baseUrl, extra) =>
    createTokenClient({ baseUrl, protocol: "connect", useBinaryFormat: true, httpVersion: "1.1", ...extra }),
  "node, grpc": (baseUrl, extra) => createTokenClient({ baseUrl, protocol: "grpc", ...extra }),
  "node, grpc-web over HTTP/1.1": (baseUrl, extra) => createTokenClient({ baseUrl, protocol: "grpc-web", httpVersion: "1.1", ...extra }),
  "web, connect JSON on fetch": (baseUrl, extra) => createWebTokenClient({ baseUrl, ...extra, protocol: "connect" }),
  "web, connect with GET for GetJwks": (baseUrl, extra) => createWebTokenClient({ baseUrl, ...extra, protocol: "connect", useHttpGet: true }),
  "web, grpc-web on fetch": (baseUrl, extra) => createWebTokenClient({ baseUrl, ...extra, protocol: "grpc-web" }),
};

describe.each(Object.keys(variants))("%s", (variant) => {
  const make = (extra?: Partial<TokenClientOptions & WebTokenClientOptions>) => variants[variant]!(server.url, extra);

  it("issues a token with Basic credentials and introspects it", async () => {
    const client = make();
    const authorization = basicAuthorization(orders.id, orders.secret);
    const issued = await client.issueClientToken({ scopes: ["orders:read"] }, { headers: { authorization } });
    expect(issued).toMatchObject({ tokenType: "Bearer", expiresIn: 3600n, scopes: ["orders:read"] });
    const introspection = await client.introspect({ token: issued.accessToken }, { headers: { authorization } });
    expect(introspection).toMatchObject({ active: true, clientId: orders.id, scopes: ["orders:read"] });
  });

  it("sends the `authorization` option on every call, from a string or a function", async () => {
    const fixed = make({ authorization: basicAuthorization(awkward.id, awkward.secret) });
    expect((await fixed.issueClientToken({})).scopes).toEqual(["reports:read"]);
    let asked = 0;
    const computed = make({ authorization: () => (asked++, basicAuthorization(orders.id, orders.secret)) });
    expect((await computed.issueClientToken({})).scopes).toEqual(["orders:read", "token:introspect"]);
    expect(asked).toBe(1);
  });

  it("a call's own authorization header wins over the option", async () => {
    const client = make({ authorization: basicAuthorization(orders.id, "wrong") });
    const issued = await client.issueClientToken({}, { headers: { authorization: basicAuthorization(awkward.id, awkward.secret) } });
    expect(issued.scopes).toEqual(["reports:read"]);
  });

  it("errors are ConnectErrors with the OAuth error code in their detail", async () => {
    const client = make();
    const failure = await client.issueClientToken({}, { headers: { authorization: basicAuthorization(orders.id, "wrong") } }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectError);
    expect((failure as ConnectError).code).toBe(Code.Unauthenticated);
    expect(oauthErrorOf(failure)).toBe("invalid_client");
  });

  it("GetJwks needs no credentials", async () => {
    const { keys } = await make().getJwks({});
    expect(keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" });
  });
});

describe("misuse is a TypeError", () => {
  it("gRPC over HTTP/1.1", () => {
    expect(() => createTokenClient({ baseUrl: "http://127.0.0.1:1", protocol: "grpc", httpVersion: "1.1" })).toThrow(TypeError);
  });
  it("an unknown protocol", () => {
    expect(() => createTokenClient({ baseUrl: "http://127.0.0.1:1", protocol: "soap" as "grpc" })).toThrow(/unknown protocol "soap"/);
  });
  it("gRPC from the browser entry", () => {
    expect(() => createWebTokenClient({ baseUrl: "http://127.0.0.1:1", protocol: "grpc" as "grpc-web" })).toThrow(/for browsers/);
  });
});

describe("the package's exports", () => {
  it('"tokensmith" is the Node client and "tokensmith/web" the browser one', () => {
    expect(packageRoot.createTokenClient).toBe(createTokenClient);
    expect(packageWeb.createTokenClient).toBe(createWebTokenClient);
    expect(packageRoot.ClientCredentialsTokenSource).toBe(packageWeb.ClientCredentialsTokenSource);
  });

  it('"tokensmith/gen/*" is the generated code, with or without the .js extension', async () => {
    expect(GeneratedTokenService).toBe(TokenService);
    expect(GeneratedWithoutExtension).toBe(TokenService);
    // The generated descriptor works with a hand-built transport, as DESIGN.md's users do.
    const client = createClient(GeneratedTokenService, createGrpcTransport({ baseUrl: server.url }));
    expect((await client.getJwks({})).keys.length).toBeGreaterThan(0);
  });
});
