import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { SignJWT, generateKeyPair } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import { ADMIN_SCOPE, ADMIN_TEST_CONFIG, bearer, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { redisBackend } from "../support/backends.js";
import { killCliProcesses, runCli, type Run } from "../support/cli-process.js";
import { eventually } from "../support/eventually.js";
import { httpGet, oauthErrorOf, postForm, type HttpResult } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * Issue 18, item 6: a revocation in force at every instance and every
 * resource server, with real processes. One redis-server (AOF, fsync
 * always), two Tokensmith instances on it (A and B, in this process, one
 * store and one clock), and a resource server in another process
 * (fixtures/resource-server.ts) guarded by tokensmith/verifier, which
 * follows B. Revocations go through A; every verdict is an HTTP answer of
 * the resource server: 200, 401 invalid_token, or 503 while stale.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("orders-api", ["token:introspect"]);
const holder = testClient("checkout", ["orders:read"], { audiences: ["orders", "billing"] });
const ISSUER = "http://tokensmith.test";
const AUDIENCE = "orders";
const MAX_STALENESS_MS = 1_500;
const PUBLISH_DELAY_SECONDS = 2;
const FIXTURE = "test/verifier/fixtures/resource-server.ts";

/** What the resource server says of a refused token (the guards' error_description). */
const REVOKED = "the token was revoked";
const EXPIRED = "the token expired";
const NOT_VALID_HERE = "the token is not valid here";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const kidOf = (token: string) => decodeJwt(token).header.kid as string;

describe("tokensmith/verifier in another process, following instance B of two on one Redis", () => {
  const backend = redisBackend({ appendonly: true });
  // A and B read one clock: frozen, so cut-offs and expiry are exact; the test moves it where real time would have.
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  let a: AdminTestServer;
  let b: AdminTestServer;
  let resource: { url: string; run: Run } | undefined;

  /** Starts the resource server and resolves once it has printed its port, which it does when its verifier is ready. */
  async function startResourceServer(): Promise<{ url: string; run: Run }> {
    const run = runCli(
      [],
      {
        VERIFIER_BASE_URL: b.server.url,
        VERIFIER_ISSUER: ISSUER,
        VERIFIER_AUDIENCE: AUDIENCE,
        VERIFIER_CLIENT_ID: resourceServer.id,
        VERIFIER_CLIENT_SECRET: resourceServer.secret,
        VERIFIER_MAX_STALENESS_MS: String(MAX_STALENESS_MS),
      },
      { nodeArgs: ["--import", "tsx"], entry: FIXTURE },
    );
    try {
      const [, port] = await run.waitForStdout(/^listening on (\d+)$/m);
      return { url: `http://127.0.0.1:${port}/orders`, run };
    } catch (error) {
      run.child.kill("SIGKILL");
      throw error;
    }
  }

  async function killResourceServer(): Promise<void> {
    const run = resource?.run;
    resource = undefined;
    if (run === undefined) return;
    run.child.kill("SIGKILL");
    await run.exited;
  }

  beforeAll(async () => {
    await backend.start();
    const shared: Partial<ConfigInput> = { ...backend.serverOptions().config, issuer: ISSUER };
    const config: Partial<ConfigInput> = {
      watchHeartbeatSeconds: 0.2,
      signingKeys: { ...ADMIN_TEST_CONFIG.signingKeys, publishDelaySeconds: PUBLISH_DELAY_SECONDS },
    };
    const options = { admin, clients: [resourceServer, holder], sharedConfig: shared, clock, config };
    a = await startAdminServer(backend, options);
    b = await startAdminServer(backend, options);
    resource = await startResourceServer();
  });
  afterAll(async () => {
    await killResourceServer();
    // One whose start-up timed out was never handed to the test.
    killCliProcesses();
    await Promise.all([a?.close(), b?.close()]);
    await backend.stop();
  });
  // A test that failed half-way must not fail the next: the resource server runs, and accepts a fresh token.
  beforeEach(async () => {
    resource ??= await startResourceServer();
    await eventually(async () => (await ask(await tokenOf(a))).status === 200, 20_000);
  });

  const tokenOf = async (on: AdminTestServer, id = holder.id, secret = holder.secret, audience = [AUDIENCE]) =>
    (await on.tokens.issueClientToken({ audience }, { headers: basic(id, secret) })).accessToken;
  const revokeOverRpc = (on: AdminTestServer, token: string) => on.tokens.revoke({ token }, { headers: basic(holder.id, holder.secret) });
  const revokeOverHttp = (on: AdminTestServer, token: string) => postForm(`${on.server.url}/oauth2/revoke`, { token }, basic(holder.id, holder.secret));

  /** The resource server's answer to a request with `token`. */
  const ask = (token: string): Promise<HttpResult> => httpGet(resource!.url, { headers: bearer(token) });
  /** Resolves once the resource server answers `token` with `status`, polling every `intervalMs`. */
  const until = (token: string, status: number, timeoutMs = 10_000, intervalMs = 100) =>
    eventually(async () => (await ask(token)).status === status, timeoutMs, intervalMs);

  async function expectAccepted(token: string): Promise<void> {
    const answer = await ask(token);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json).toMatchObject({ jti: decodeJwt(token).payload.jti, iss: ISSUER, aud: AUDIENCE, client_id: expect.any(String) });
  }

  /** 401 with the RFC 6750 challenge `error="invalid_token"`, saying why. */
  async function expectRefused(token: string, description: string): Promise<void> {
    const answer = await ask(token);
    expect(answer.status, answer.text).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe(`Bearer error="invalid_token", error_description="${description}"`);
    expect(answer.json).toEqual({ error: "invalid_token", error_description: description });
  }

  /** 503 with Retry-After: the verifier cannot vouch for any token. */
  async function expectStale(token: string): Promise<void> {
    const answer = await ask(token);
    expect(answer.status, answer.text).toBe(503);
    expect(answer.headers.get("retry-after")).toBe("1");
    expect(answer.json).toMatchObject({ error: "temporarily_unavailable" });
  }

  it("a token revoked through A (RFC 7009 and the Revoke RPC) is refused by the verifier following B; logs the ms from A's acknowledgement to the first refusal", async () => {
    const samples: Array<[how: string, ms: number]> = [];
    for (let round = 0; round < 3; round++) {
      for (const how of ["RFC 7009", "Revoke RPC"] as const) {
        const token = await tokenOf(round % 2 === 0 ? a : b);
        await expectAccepted(token);
        if (how === "RFC 7009") expect((await revokeOverHttp(a, token)).status).toBe(200);
        else await revokeOverRpc(a, token);
        const acknowledgedAt = performance.now();
        await until(token, 401, 10_000, 2);
        samples.push([how, Math.round(performance.now() - acknowledgedAt)]);
        await expectRefused(token, REVOKED);
      }
    }
    const sorted = samples.map(([, ms]) => ms).sort((x, y) => x - y);
    console.log(`revoke on A → refusal at the verifier following B (ms): ${samples.map(([how, ms]) => `${how} ${ms}`).join(", ")}; median ${sorted[Math.floor(sorted.length / 2)]}`);
  });

  it("a client deleted on A (DeleteClient): its tokens, issued on A and on B, are refused by the verifier", async () => {
    const { clientSecret } = await a.admin.createClient({ id: "doomed", scopes: ["orders:read"], audiences: [AUDIENCE] });
    const tokens = [await tokenOf(a, "doomed", clientSecret), await tokenOf(b, "doomed", clientSecret)];
    for (const token of tokens) await expectAccepted(token);
    await a.admin.deleteClient({ id: "doomed" });
    for (const token of tokens) {
      await until(token, 401);
      await expectRefused(token, REVOKED);
    }
  });

  it("RevokeClientTokens on A: the client's earlier tokens are refused by the verifier, one issued after the cut-off is accepted", async () => {
    const { clientSecret } = await a.admin.createClient({ id: "leaky", scopes: ["orders:read"], audiences: [AUDIENCE] });
    const earlier = [await tokenOf(a, "leaky", clientSecret), await tokenOf(b, "leaky", clientSecret)];
    for (const token of earlier) await expectAccepted(token);
    const { revokeTime } = await a.admin.revokeClientTokens({ id: "leaky" });
    for (const token of earlier) {
      await until(token, 401);
      await expectRefused(token, REVOKED);
    }
    // The cut-off is inclusive of its millisecond: the next one is after it.
    clock.advance(1);
    const later = [await tokenOf(a, "leaky", clientSecret), await tokenOf(b, "leaky", clientSecret)];
    for (const token of later) {
      expect(decodeJwt(token).payload.iat_ms).toBeGreaterThan(timestampMs(revokeTime!));
      await expectAccepted(token);
    }
  });

  it("Redis killed: the verifier answers 503 once stale, never 200, and refuses what was revoked before; after a restart it is current again and misses no revocation", async () => {
    const redis = backend.redis();
    const good = await tokenOf(b);
    const revokedBefore = await tokenOf(a);
    const attempted = await tokenOf(a);
    const revokedAfter = await tokenOf(a);
    await revokeOverRpc(a, revokedBefore);
    await until(revokedBefore, 401);
    await expectAccepted(good);

    await redis.kill();
    const killedAt = performance.now();
    let restartedAt: number | undefined;
    try {
      // No revocation is acknowledged while Redis is down, over HTTP or RPC, on either instance.
      const overHttp = await revokeOverHttp(a, attempted);
      expect(overHttp.status).toBe(503);
      expect(oauthErrorOf(overHttp)).toBe("temporarily_unavailable");
      await expectRpcError(revokeOverRpc(a, attempted), Code.Unavailable, "temporarily_unavailable");
      await expectRpcError(revokeOverRpc(b, attempted), Code.Unavailable, "temporarily_unavailable");

      await until(good, 503, 15_000, 10);
      console.log(`Redis SIGKILLed → the verifier's first 503: ${Math.round(performance.now() - killedAt)} ms (maxStalenessMs ${MAX_STALENESS_MS})`);
      // Stale from then on, for good and revoked tokens alike: never a 200.
      for (let round = 0; round < 10; round++) {
        for (const token of [good, revokedBefore, attempted]) await expectStale(token);
        await sleep(100);
      }
    } finally {
      await redis.restart();
      restartedAt = performance.now();
    }

    await until(good, 200, 20_000, 10);
    console.log(`Redis restarted → the verifier's first 200: ${Math.round(performance.now() - restartedAt)} ms`);
    await expectRefused(revokedBefore, REVOKED);
    // The revocation that failed was not applied either.
    await expectAccepted(attempted);
    // A's connection to Redis may still be reconnecting: retried until acknowledged.
    for (const token of [attempted, revokedAfter]) {
      await eventually(async () => {
        await revokeOverRpc(a, token);
        return true;
      }, 20_000);
      await until(token, 401);
      await expectRefused(token, REVOKED);
    }
    await expectAccepted(good);
  });

  it("the verifier process SIGKILLed and restarted while revocations go on: it refuses those from before its restart (snapshot) and those after", async () => {
    const control = await tokenOf(b);
    const acknowledged: Array<{ token: string; at: number }> = [];
    let revoking = true;
    // Issues on B and revokes on A, one after another, until told to stop.
    const revoker = (async () => {
      while (revoking) {
        const token = await tokenOf(b);
        await revokeOverRpc(a, token);
        acknowledged.push({ token, at: performance.now() });
        await sleep(50);
      }
    })();
    const acknowledgedSince = (at: number) => acknowledged.filter((entry) => entry.at > at).length;
    let spawnedAt = Number.POSITIVE_INFINITY;
    let readyAt = Number.POSITIVE_INFINITY;
    try {
      await eventually(async () => acknowledged.length >= 3, 10_000, 10);
      await killResourceServer();
      const killedAt = performance.now();
      await eventually(async () => acknowledgedSince(killedAt) >= 3, 10_000, 10);
      spawnedAt = performance.now();
      resource = await startResourceServer();
      readyAt = performance.now();
      await eventually(async () => acknowledgedSince(readyAt) >= 3, 10_000, 10);
    } finally {
      revoking = false;
      await revoker;
    }
    console.log(
      `verifier restart: ${acknowledged.length} revocations, ${acknowledged.filter((entry) => entry.at < spawnedAt).length} acknowledged before the new process started, ` +
        `${acknowledgedSince(readyAt)} after it was ready; ${Math.round(readyAt - spawnedAt)} ms from spawn to ready`,
    );
    // Those acknowledged before the new process started are in its first snapshot: refused at once, no waiting.
    for (const { token } of acknowledged.filter((entry) => entry.at < spawnedAt)) await expectRefused(token, REVOKED);
    for (const { token } of acknowledged) await until(token, 401);
    for (const { token } of acknowledged) await expectRefused(token, REVOKED);
    await expectAccepted(control);
  });

  it("refuses with 401 invalid_token a forged token, an expired one, one for another audience and one from another issuer", async () => {
    const genuine = await tokenOf(a);
    await expectAccepted(genuine);
    const { header, payload } = decodeJwt(genuine);
    // Signed by a key of nobody's under the genuine kid.
    const alg = header.alg as string;
    const { privateKey: strangersKey } = await generateKeyPair(alg);
    const forged = await new SignJWT(payload).setProtectedHeader({ ...header, alg }).sign(strangersKey);
    // Signed with the issuer's own key, but naming another issuer.
    const fromElsewhere = await new SignJWT({ ...payload, iss: "http://elsewhere.test" }).setProtectedHeader({ ...header, alg }).sign(a.server.domain.keyRing.active().privateKey);
    // Issued by A while its clock was an hour behind: long expired by the verifier's clock.
    clock.advance(-3_600_000);
    const expired = await tokenOf(a).finally(() => clock.advance(3_600_000));
    const otherAudience = await tokenOf(a, holder.id, holder.secret, ["billing"]);

    await expectRefused(forged, NOT_VALID_HERE);
    await expectRefused(fromElsewhere, NOT_VALID_HERE);
    await expectRefused(expired, EXPIRED);
    await expectRefused(otherAudience, NOT_VALID_HERE);
    await expectAccepted(genuine);
  });

  it("a signing key rotated on A (published, then signing) never makes the verifier refuse a valid token from A or B", async () => {
    const before = await tokenOf(a);
    const oldKid = kidOf(before);
    const answers: Array<{ from: "A" | "B"; kid: string; status: number; text: string }> = [];
    let issuing = true;
    // Fresh tokens from A and B, and the one from before the rotation, checked over and over across it.
    const traffic = (async () => {
      while (issuing) {
        for (const [from, on] of [["A", a], ["B", b]] as const) {
          for (const token of [await tokenOf(on), before]) {
            const answer = await ask(token);
            answers.push({ from, kid: kidOf(token), status: answer.status, text: answer.text });
          }
        }
      }
    })();
    let newKid = "";
    try {
      const { key } = await a.admin.rotateSigningKey({});
      newKid = key!.kid;
      // Publish before use: the new key signs once its delay has passed, as real time passes.
      await sleep(PUBLISH_DELAY_SECONDS * 1_000);
      clock.advance(PUBLISH_DELAY_SECONDS * 1_000);
      const signedWithNewKey = (from: "A" | "B") => answers.filter((answer) => answer.from === from && answer.kid === newKid).length;
      await eventually(async () => signedWithNewKey("A") >= 5 && signedWithNewKey("B") >= 5, 15_000, 20);
    } finally {
      issuing = false;
      await traffic;
    }
    console.log(`key rotation: ${answers.length} answers, ${answers.filter((answer) => answer.kid === newKid).length} for tokens signed with the new key`);
    expect(newKid).not.toBe(oldKid);
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(new Set(answers.map((answer) => answer.kid))).toEqual(new Set([oldKid, newKid]));
  });
});
