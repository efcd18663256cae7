import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read", "orders:write"]);
const resourceServer = testClient("resource-server", ["token:introspect"]);

const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** Codes a hostile request may get; never Internal, Unknown or a transport failure. */
const CLEAR_CODES = new Set([Code.InvalidArgument, Code.Unauthenticated, Code.PermissionDenied, Code.ResourceExhausted]);

describe("hostile input never crashes, hangs or leaks a 500", () => {
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;
  let goodToken: string;
  const introspector = () => ({ headers: basic(resourceServer.id, resourceServer.secret) });

  beforeAll(async () => {
    server = await startTestServer({ clients: [orders, resourceServer] });
    rpc = tokenClient(transports["connect binary (HTTP/2)"](server.url));
    goodToken = (await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) })).accessToken;
  });
  afterAll(async () => {
    await server?.close();
  });

  const introspectIsInactive = async (token: string) => {
    try {
      const result = await rpc.introspect({ token }, introspector());
      return result.active === false;
    } catch (error) {
      const code = ConnectError.from(error).code;
      // An empty token is a malformed request, a message over the 64 KiB RPC limit is refused before parsing;
      // anything else is just "not active".
      return (code === Code.InvalidArgument && token.length === 0) || (code === Code.ResourceExhausted && token.length > 64 * 1024);
    }
  };

  it("random strings as tokens are inactive", async () => {
    await fc.assert(fc.asyncProperty(fc.string({ maxLength: 400 }), introspectIsInactive), { numRuns: 200 });
  });

  it("random three-segment base64url strings are inactive", async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{0,120}$/);
    await fc.assert(fc.asyncProperty(segment, segment, segment, async (h, p, s) => introspectIsInactive(`${h}.${p}.${s}`)), { numRuns: 200 });
  });

  it("every single-character mutation of a valid token is inactive", async () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: goodToken.length - 1 }), fc.constantFrom(...alphabet), async (index, char) => {
        fc.pre(goodToken[index] !== char);
        const mutated = goodToken.slice(0, index) + char + goodToken.slice(index + 1);
        // A change in the last base64url character's padding bits can leave the signature bytes identical.
        const [h, p, s] = mutated.split(".");
        const [gh, gp, gs] = goodToken.split(".");
        fc.pre(!(h === gh && p === gp && s !== undefined && gs !== undefined && Buffer.from(s, "base64url").equals(Buffer.from(gs, "base64url"))));
        return introspectIsInactive(mutated);
      }),
      { numRuns: 300 },
    );
  });

  it("crafted headers and claims are inactive: alg none, HS256 with the public key, swapped typ, wrong kid, nested JSON, huge header", async () => {
    const [header, payload] = goodToken.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
    const kid = server.domain.keyRing.active().kid;
    const publicJwk = JSON.stringify(server.domain.keyRing.publicJwks()[0]);
    const { privateKey: otherKey } = generateKeyPairSync("ed25519");
    const signEd = (h: unknown, p: unknown) => {
      const input = `${b64(h)}.${b64(p)}`;
      return `${input}.${sign(null, Buffer.from(input), otherKey).toString("base64url")}`;
    };
    const hs256 = (secret: string) => {
      const input = `${b64({ alg: "HS256", typ: "at+jwt", kid })}.${payload}`;
      return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
    };
    const cases = [
      `${b64({ alg: "none", typ: "at+jwt", kid })}.${payload}.`,
      `${b64({ alg: "none", typ: "at+jwt", kid })}.${payload}`,
      hs256(publicJwk),
      hs256(server.domain.keyRing.publicJwks()[0]!.x),
      `${b64({ alg: "EdDSA", typ: "JWT", kid })}.${payload}.${goodToken.split(".")[2]}`,
      signEd({ alg: "EdDSA", typ: "at+jwt", kid }, claims),
      signEd({ alg: "EdDSA", typ: "at+jwt", kid: "unknown" }, claims),
      `${b64({ alg: "EdDSA", typ: "at+jwt", kid, crit: ["exp"] })}.${payload}.${goodToken.split(".")[2]}`,
      `${header}.${b64({ ...claims, scope: { nested: { deeper: [1, 2, { x: "y" }] } } })}.${goodToken.split(".")[2]}`,
      `${b64({ alg: "EdDSA", typ: "at+jwt", kid, pad: "x".repeat(7000) })}.${payload}.${goodToken.split(".")[2]}`,
      `${b64("[".repeat(5000) + "]".repeat(5000))}.${payload}.sig`,
      `${header}.${b64("null")}.${goodToken.split(".")[2]}`,
      `${header}.${payload}.${goodToken.split(".")[2]}.extra`,
      `${header}.${payload}.${"A".repeat(200_000)}`,
    ];
    for (const token of cases) expect(await introspectIsInactive(token), token.slice(0, 80)).toBe(true);
    expect((await rpc.introspect({ token: goodToken }, introspector())).active).toBe(true);
  });

  it("random Basic headers get Unauthenticated or InvalidArgument", async () => {
    const header = fc.oneof(
      fc.string({ maxLength: 200 }).map((value) => `Basic ${value}`),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => `Basic ${Buffer.from(bytes).toString("base64")}`),
      fc.tuple(fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 })).map(([id, secret]) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`),
      fc.string({ maxLength: 200 }),
    );
    await fc.assert(
      fc.asyncProperty(header, async (authorization) => {
        fc.pre(/^[\t\x20-\x7e]*$/.test(authorization) && authorization.trim() === authorization);
        try {
          await rpc.issueClientToken({}, { headers: { authorization } });
          return false;
        } catch (error) {
          const code = ConnectError.from(error).code;
          return code === Code.Unauthenticated || code === Code.InvalidArgument;
        }
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ["10 000 scopes", { scopes: Array.from({ length: 10_000 }, (_, i) => `s${i}`) }],
    ["a 100 kB scope", { scopes: ["x".repeat(100_000)] }],
    ["1 000 audiences", { audience: Array.from({ length: 1_000 }, (_, i) => `https://a${i}.test`) }],
    ["a 1 MB client secret", { clientId: "orders", clientSecret: "x".repeat(1_000_000) }],
  ])("%s: a clear error", async (_case, request) => {
    try {
      await rpc.issueClientToken(request, { headers: "clientSecret" in request ? {} : basic(orders.id, orders.secret) });
      expect.unreachable("should have been refused");
    } catch (error) {
      expect(CLEAR_CODES.has(ConnectError.from(error).code), String(error)).toBe(true);
    }
  });

  it("an oversized username is refused with InvalidArgument", async () => {
    const response = await fetch(`${server.url}/tokensmith.v1.TokenService/IssueExternalAuthGrant`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Basic eDo=" },
      body: JSON.stringify({ username: "u".repeat(50_000) }),
    });
    expect([400, 401, 413]).toContain(response.status);
  });

  it("garbage bodies on every RPC get a clear error, and the server keeps serving", async () => {
    for (const method of ["IssueClientToken", "IssueGrant", "IssueExternalAuthGrant", "Introspect", "ExchangeToken", "Revoke", "GetJwks"]) {
      for (const body of ["{", "[]", '{"scopes": 5}', '{"unknownField": true}', "\u0000\u0001", "x".repeat(10_000)]) {
        const response = await fetch(`${server.url}/tokensmith.v1.TokenService/${method}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        expect(response.status, `${method} ${body.slice(0, 20)}`).toBeLessThan(500);
      }
    }
    expect((await rpc.introspect({ token: goodToken }, introspector())).active).toBe(true);
  });
});
