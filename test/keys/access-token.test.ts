import { createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { toJson } from "@bufbuild/protobuf";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetJwksResponseSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { VerifyFailure } from "../../src/domain/access-token.js";
import { ManualClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import { nonCanonicalSpellings, paddedToUnusedBits, withSegment } from "../support/base64url-spellings.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * Access tokens are RFC 9068 JWTs: `typ: at+jwt`, signed with an asymmetric
 * key named by `kid` and published in the JWKS, so any resource server can
 * verify them offline. The service's own verifier refuses anything else.
 */

const orders = testClient("orders-service", ["orders:read", "orders:write"]);
const shortLived = testClient("batch-job", ["reports:read"], { tokenLifetimeSeconds: 300 });
const HOUR = 3600;

type Json = Record<string, unknown>;

const b64url = (value: Json | string | Buffer) =>
  Buffer.from(typeof value === "string" || Buffer.isBuffer(value) ? value : JSON.stringify(value)).toString("base64url");

/** A compact JWS with any header, payload and signature function: the forger's toolkit. */
function compact(header: Json, payload: Json, signer: (input: string) => Buffer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signer(input).toString("base64url")}`;
}

const ed25519 = (key: KeyObject) => (input: string) => sign(null, Buffer.from(input), key);

function segments(token: string): [Json, Json, string] {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Json;
  return [decode(header), decode(payload), signature];
}

async function jwks(url: string): Promise<Json[]> {
  const response = await fetch(`${url}/.well-known/jwks.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/(jwk-set\+)?json/);
  return ((await response.json()) as { keys: Json[] }).keys;
}

describe("EdDSA access tokens (the default)", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
  let server: RunningServer;
  let issue: (client?: typeof orders, scopes?: string[]) => Promise<{ token: string; expiresIn: bigint }>;

  beforeAll(async () => {
    server = await startTestServer({ clients: [orders, shortLived], clock });
    const rpc = tokenClient(transports["connect binary (HTTP/2)"](server.url));
    issue = async (client = orders, scopes = []) => {
      const response = await rpc.issueClientToken({ scopes }, { headers: basic(client.id, client.secret) });
      return { token: response.accessToken, expiresIn: response.expiresIn };
    };
  });

  afterAll(async () => {
    await server?.close();
  });

  describe("the service's own verifier refuses", () => {
    /** The active signing key: forgeries signed with it isolate the one thing that is wrong. */
    const realKey = () => server.domain.keyRing.active();
    const claims = (extra: Json = {}): Json => {
      const iat = Math.floor(clock.now() / 1000);
      return {
        iss: server.domain.issuer,
        sub: orders.id,
        client_id: orders.id,
        aud: server.domain.issuer,
        scope: "orders:read",
        iat,
        exp: iat + HOUR,
        jti: "forged-jti",
        ...extra,
      };
    };
    const header = (extra: Json = {}): Json => ({ alg: "EdDSA", kid: realKey().kid, typ: "at+jwt", ...extra });
    const signedByUs = (h: Json, p: Json) => compact(h, p, ed25519(realKey().privateKey));

    const forgeries: [string, () => Promise<string> | string, VerifyFailure][] = [
      [
        "a token signed by another Ed25519 key under the same kid",
        () => compact(header(), claims(), ed25519(generateKeyPairSync("ed25519").privateKey)),
        "bad_signature",
      ],
      ["alg none, unsigned (empty signature segment)", () => `${b64url(header({ alg: "none" }))}.${b64url(claims())}.`, "malformed"],
      ["alg none, carrying the signature of a real token", () => signedByUs(header({ alg: "none" }), claims()), "unsupported_header"],
      ["typ JWT, otherwise valid and signed with the real key", () => signedByUs(header({ typ: "JWT" }), claims()), "unsupported_header"],
      ["no typ, otherwise valid", () => signedByUs({ alg: "EdDSA", kid: realKey().kid }, claims()), "unsupported_header"],
      ["no kid", () => signedByUs({ alg: "EdDSA", typ: "at+jwt" }, claims()), "unsupported_header"],
      ["a crit header", () => signedByUs(header({ crit: ["exp"] }), claims()), "unsupported_header"],
      [
        "HS256 signed with the public key bytes as the HMAC secret",
        () => {
          const publicBytes = Buffer.from(realKey().publicJwk.x, "base64url");
          return compact(header({ alg: "HS256" }), claims(), (input) => createHmac("sha256", publicBytes).update(input).digest());
        },
        "unsupported_header",
      ],
      [
        "HS256 signed with the published JWK as the HMAC secret",
        () =>
          compact(header({ alg: "HS256" }), claims(), (input) =>
            createHmac("sha256", JSON.stringify(realKey().publicJwk)).update(input).digest(),
          ),
        "unsupported_header",
      ],
      ["ES256 claimed for the Ed25519 key", () => signedByUs(header({ alg: "ES256" }), claims()), "unsupported_header"],
      ["a kid that is not in the key ring", () => signedByUs(header({ kid: "not-a-known-kid" }), claims()), "unknown_key"],
      ["a wrong issuer, signed with the real key", () => signedByUs(header(), claims({ iss: "https://evil.test" })), "wrong_issuer"],
      ["no issuer", () => signedByUs(header(), claims({ iss: undefined })), "wrong_issuer"],
      ["no jti", () => signedByUs(header(), claims({ jti: undefined })), "bad_claims"],
      ["exp as a string", () => signedByUs(header(), claims({ exp: "9999999999" })), "bad_claims"],
      ["aud as a number", () => signedByUs(header(), claims({ aud: 42 })), "bad_claims"],
      ["nbf in the future", () => signedByUs(header(), claims({ nbf: Math.floor(clock.now() / 1000) + 60 })), "not_yet_valid"],
      ["exp in the past", () => signedByUs(header(), claims({ exp: Math.floor(clock.now() / 1000) - 1 })), "expired"],
      [
        "a tampered payload (scope widened) on an issued token",
        async () => {
          const [, payload, signature] = segments((await issue(orders, ["orders:read"])).token);
          const [encodedHeader] = (await issue()).token.split(".");
          return `${encodedHeader}.${b64url({ ...payload, scope: "orders:read orders:write admin" })}.${signature}`;
        },
        "bad_signature",
      ],
      [
        "a tampered header (extra member) on an issued token",
        async () => {
          const [headerJson, , signature] = segments((await issue()).token);
          const [, encodedPayload] = (await issue()).token.split(".");
          return `${b64url({ ...headerJson, x: 1 })}.${encodedPayload}.${signature}`;
        },
        "bad_signature",
      ],
      [
        "a truncated signature on an issued token",
        async () => {
          const token = (await issue()).token;
          // 84 characters, 63 whole bytes: canonical, so it is the signature check that refuses it.
          return token.slice(0, -2);
        },
        "bad_signature",
      ],
      ["the empty string", () => "", "malformed"],
      ["a garbage string", () => "definitely not a token", "malformed"],
      ["two segments", () => `${b64url(header())}.${b64url(claims())}`, "malformed"],
      ["four segments", () => `${signedByUs(header(), claims())}.extra`, "malformed"],
      ["characters outside base64url", () => `${b64url(header())}.${b64url(claims())}+/.c2ln`, "malformed"],
      ["a header that is not JSON", () => `${b64url("not json")}.${b64url(claims())}.c2ln`, "malformed"],
      ["a header that is a JSON array", () => `${b64url("[1,2]")}.${b64url(claims())}.c2ln`, "malformed"],
      ["a 10,000-character token", () => `${b64url(header())}.${"A".repeat(10_000)}.c2ln`, "malformed"],
    ];

    it.each(forgeries)("%s", async (_case, make, reason) => {
      const token = await make();
      expect(server.domain.accessTokens.verify(token)).toEqual({ ok: false, reason });
    });

    describe("non-canonical base64url (RFC 7515 §2, RFC 4648 §3.5: unused bits of the last character must be zero)", () => {
      const token = () =>
        signedByUs(
          paddedToUnusedBits((pad) => header({ pad })),
          paddedToUnusedBits((pad) => claims({ pad })),
        );

      it.each([
        ["header", 0],
        ["payload", 1],
        ["signature", 2],
      ] as const)("in the %s: all 15 other spellings of the token are malformed, the canonical one verifies", (_segment, index) => {
        const canonical = token();
        const spellings = nonCanonicalSpellings(canonical.split(".")[index]!);
        expect(spellings).toHaveLength(15);
        for (const spelling of spellings) {
          expect(server.domain.accessTokens.verify(withSegment(canonical, index, spelling))).toEqual({ ok: false, reason: "malformed" });
        }
        expect(server.domain.accessTokens.verify(canonical).ok).toBe(true);
      });

      it("on an issued token, also after its canonical spelling was verified (and cached)", async () => {
        const { token: issued } = await issue();
        expect(server.domain.accessTokens.verify(issued).ok).toBe(true);
        for (const spelling of nonCanonicalSpellings(issued.split(".")[2]!)) {
          expect(server.domain.accessTokens.verify(withSegment(issued, 2, spelling))).toEqual({ ok: false, reason: "malformed" });
        }
      });

      it("a segment of 1 mod 4 characters (no whole byte in its last character)", () => {
        const canonical = token();
        expect(server.domain.accessTokens.verify(withSegment(canonical, 2, `${canonical.split(".")[2]}AAA`))).toEqual({ ok: false, reason: "malformed" });
      });
    });

    it("an expired token: valid until one second before exp, refused from exp on", async () => {
      const { token } = await issue();
      const { exp } = decodeJwt(token);
      const start = clock.now();
      try {
        clock.set(((exp ?? 0) - 1) * 1000);
        expect(server.domain.accessTokens.verify(token).ok).toBe(true);
        clock.set((exp ?? 0) * 1000);
        expect(server.domain.accessTokens.verify(token)).toEqual({ ok: false, reason: "expired" });
        clock.advance(24 * HOUR * 1000);
        expect(server.domain.accessTokens.verify(token)).toEqual({ ok: false, reason: "expired" });
      } finally {
        clock.set(start);
      }
    });
  });

  describe("the service's own verifier accepts", () => {
    it("an issued token, returning its claims", async () => {
      const { token } = await issue(orders, ["orders:write"]);
      const result = server.domain.accessTokens.verify(token);
      expect(result).toEqual({ ok: true, claims: decodeJwt(token) });
    });

    it("typ application/at+jwt (RFC 9068 §2.1 allows the full media type)", () => {
      const key = server.domain.keyRing.active();
      const iat = Math.floor(clock.now() / 1000);
      const token = compact(
        { alg: "EdDSA", kid: key.kid, typ: "application/at+jwt" },
        { iss: server.domain.issuer, sub: "x", client_id: "x", aud: "y", scope: "", iat, exp: iat + 60, jti: "j" },
        ed25519(key.privateKey),
      );
      expect(server.domain.accessTokens.verify(token).ok).toBe(true);
    });
  });

  describe("token contents (RFC 9068 §2)", () => {
    it("has the header typ at+jwt, alg EdDSA and the kid of a key in the JWKS", async () => {
      const { token } = await issue();
      const header = decodeProtectedHeader(token);
      expect(header).toEqual({ typ: "at+jwt", alg: "EdDSA", kid: expect.any(String) });
      const keys = await jwks(server.url);
      expect(keys.map((key) => key.kid)).toContain(header.kid);
    });

    it("carries iss, sub and client_id of the client, aud, the scopes space-separated, iat, exp, jti and iat_ms", async () => {
      const { token, expiresIn } = await issue(orders, ["orders:read", "orders:write"]);
      const iat = Math.floor(clock.now() / 1000);
      expect(decodeJwt(token)).toEqual({
        iss: server.domain.issuer,
        sub: orders.id,
        client_id: orders.id,
        aud: server.domain.issuer,
        scope: "orders:read orders:write",
        iat,
        exp: iat + HOUR,
        jti: expect.stringMatching(/^[A-Za-z0-9_-]{22,}$/),
        // The issue instant in ms (RevokeClientTokens' cut-off splits a second with it).
        iat_ms: clock.now(),
      });
      expect(expiresIn).toBe(BigInt(HOUR));
    });

    it.each([
      ["the default lifetime of 3600 s", orders, HOUR],
      ["the client's own lifetime", shortLived, 300],
    ])("expires after %s", async (_case, client, lifetime) => {
      const { token, expiresIn } = await issue(client);
      const { iat, exp } = decodeJwt(token);
      expect(iat).toBe(Math.floor(clock.now() / 1000));
      expect(exp).toBe((iat ?? 0) + lifetime);
      expect(expiresIn).toBe(BigInt(lifetime));
    });

    it("has a jti unique across 100 tokens issued in the same second", async () => {
      const jtis = new Set<unknown>();
      for (let i = 0; i < 100; i++) jtis.add(decodeJwt((await issue()).token).jti);
      expect(jtis.size).toBe(100);
    });
  });

  describe("offline verification by a resource server", () => {
    it("verifies with jose against the published JWKS, checking typ, issuer and audience", async () => {
      const { token } = await issue(orders, ["orders:read"]);
      const keySet = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jwtVerify(token, keySet, {
        typ: "at+jwt",
        issuer: server.domain.issuer,
        audience: server.domain.issuer,
        currentDate: new Date(clock.now()),
      });
      expect(payload.client_id).toBe(orders.id);
      expect(payload.scope).toBe("orders:read");
      expect(protectedHeader.alg).toBe("EdDSA");
    });

    it("fails jose verification for a token of another issuer (the JWKS check is meaningful)", async () => {
      const { token } = await issue();
      const keySet = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
      await expect(
        jwtVerify(token, keySet, { typ: "at+jwt", issuer: "https://someone-else.test", currentDate: new Date(clock.now()) }),
      ).rejects.toMatchObject({ code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "iss" });
    });

    it("publishes public keys only: kty OKP, crv Ed25519, use sig, alg EdDSA, no private member", async () => {
      const keys = await jwks(server.url);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(key).toEqual({ kty: "OKP", crv: "Ed25519", x: expect.any(String), kid: expect.any(String), alg: "EdDSA", use: "sig" });
      }
    });

    it.each(Object.keys(transports) as (keyof typeof transports)[])("GetJwks over %s returns the same keys as the HTTP JWKS", async (name) => {
      const response = await tokenClient(transports[name](server.url)).getJwks({});
      const viaRpc = toJson(GetJwksResponseSchema, response) as { keys: Json[] };
      expect(viaRpc.keys).toEqual(await jwks(server.url));
    });
  });
});

describe("ES256 access tokens (signingAlgorithm: ES256)", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startTestServer({ clients: [orders], config: { signingAlgorithm: "ES256" } });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("are signed with alg ES256 by a P-256 key published in the JWKS, and verify with jose", async () => {
    const rpc = tokenClient(transports["connect JSON (HTTP/1.1)"](server.url));
    const { accessToken } = await rpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    const header = decodeProtectedHeader(accessToken);
    expect(header).toMatchObject({ typ: "at+jwt", alg: "ES256" });

    const keys = await jwks(server.url);
    expect(keys.find((key) => key.kid === header.kid)).toEqual({
      kty: "EC",
      crv: "P-256",
      x: expect.any(String),
      y: expect.any(String),
      kid: header.kid,
      alg: "ES256",
      use: "sig",
    });

    const { payload } = await jwtVerify(accessToken, createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`)), {
      typ: "at+jwt",
      issuer: server.domain.issuer,
      audience: server.domain.issuer,
    });
    expect(payload.sub).toBe(orders.id);
    expect(server.domain.accessTokens.verify(accessToken).ok).toBe(true);
  });

  it("GetJwks returns the same EC keys as the HTTP JWKS", async () => {
    const response = await tokenClient(transports["grpc (HTTP/2)"](server.url)).getJwks({});
    expect((toJson(GetJwksResponseSchema, response) as { keys: Json[] }).keys).toEqual(await jwks(server.url));
  });

  it("refuses an EdDSA token that claims the ES256 key's kid", () => {
    const kid = server.domain.keyRing.active().kid;
    const iat = Math.floor(Date.now() / 1000);
    const token = compact(
      { alg: "EdDSA", kid, typ: "at+jwt" },
      { iss: server.domain.issuer, sub: "x", client_id: "x", aud: "y", scope: "", iat, exp: iat + 60, jti: "j" },
      ed25519(generateKeyPairSync("ed25519").privateKey),
    );
    expect(server.domain.accessTokens.verify(token)).toEqual({ ok: false, reason: "unsupported_header" });
  });
});
