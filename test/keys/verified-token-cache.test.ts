import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read"], { tokenLifetimeSeconds: 120 });

/** The verifier remembers tokens it has checked; time and key retirement must still apply on every use. */
describe("a token verified once", () => {
  const clock = new ManualClock(Date.now());
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ clients: [orders], clock, config: { signingKeys: { publishDelaySeconds: 0, rotateEveryDays: 0, refreshSeconds: 10 }, maxTokenLifetimeSeconds: 300 } });
  });
  afterAll(async () => {
    await server?.close();
  });
  const issue = async () =>
    (await tokenClient(transports["grpc (HTTP/2)"](server.url)).issueClientToken({}, { headers: basic(orders.id, orders.secret) })).accessToken;

  it("expires on time even when remembered", async () => {
    const token = await issue();
    expect(server.domain.accessTokens.verify(token).ok).toBe(true);
    expect(server.domain.accessTokens.verify(token).ok).toBe(true);
    clock.advance(121_000);
    expect(server.domain.accessTokens.verify(token)).toEqual({ ok: false, reason: "expired" });
  });

  it("stops verifying once its signing key has retired, even when remembered", async () => {
    const token = await issue();
    expect(server.domain.accessTokens.verify(token).ok).toBe(true);
    await server.domain.keyRing.rotate({ publishDelayMs: 0, retireAfterMs: 60_000 });
    expect(server.domain.accessTokens.verify(token).ok).toBe(true);
    clock.advance(61_000);
    expect(server.domain.accessTokens.verify(token)).toEqual({ ok: false, reason: "unknown_key" });
  });

  it("a tampered copy of a remembered token is still refused", async () => {
    const token = await issue();
    expect(server.domain.accessTokens.verify(token).ok).toBe(true);
    const [h, p, s] = token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: "orders:write" })).toString("base64url")}.${s}`;
    expect(server.domain.accessTokens.verify(forged)).toEqual({ ok: false, reason: "bad_signature" });
  });
});
