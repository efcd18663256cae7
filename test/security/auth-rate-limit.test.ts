import { describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { serversOnRedis } from "../support/backends.js";
import { postFormFrom as post, postFrom } from "../support/oauth.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read"]);
const apiKey = generateSecret("api_key");
const limits = { failuresPerPeer: 8, failuresPerSubjectAndPeer: 3, windowSeconds: 60 };

const tokenRequest = (secret: string) => ({ grant_type: "client_credentials", client_id: orders.id, client_secret: secret });
const grantAuth = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

describe("failed authentication limits", () => {
  const { redis, track } = serversOnRedis();
  const start = async () =>
    track(
      await startTestServer({
        clients: [orders],
        config: {
          store: { type: "redis", url: redis().url },
          issuer: "http://tokensmith.test",
          rateLimits: limits,
          apiKeys: [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] }],
        },
      }),
    );

  it("past the limit a client id from one peer gets 429 + Retry-After, while the real client on another peer is unaffected", async () => {
    const server = await start();
    for (let i = 0; i < limits.failuresPerSubjectAndPeer; i += 1) {
      expect((await post(server.url, "/oauth2/token", tokenRequest("wrong"), { from: "127.0.0.2" })).status).toBe(401);
    }
    const limited = await post(server.url, "/oauth2/token", tokenRequest("wrong"), { from: "127.0.0.2" });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe("slow_down");
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    // The attacker's address stays refused, even with the right secret...
    expect((await post(server.url, "/oauth2/token", tokenRequest(orders.secret), { from: "127.0.0.2" })).status).toBe(429);
    // ...but the real client, calling from its own address, is not locked out.
    expect((await post(server.url, "/oauth2/token", tokenRequest(orders.secret), { from: "127.0.0.3" })).status).toBe(200);
  });

  it("counts in the store, so the limit holds across instances", async () => {
    const [a, b] = [await start(), await start()];
    expect((await post(a.url, "/oauth2/token", tokenRequest("wrong"), { from: "127.0.0.4" })).status).toBe(401);
    expect((await post(b.url, "/oauth2/token", tokenRequest("wrong"), { from: "127.0.0.4" })).status).toBe(401);
    expect((await post(a.url, "/oauth2/token", tokenRequest("wrong"), { from: "127.0.0.4" })).status).toBe(401);
    expect((await post(b.url, "/oauth2/token", tokenRequest("wrong"), { from: "127.0.0.4" })).status).toBe(429);
  });

  it("limits a peer that tries many different client ids", async () => {
    const server = await start();
    const statuses: number[] = [];
    for (let i = 0; i <= limits.failuresPerPeer; i += 1) {
      const reply = await post(server.url, "/oauth2/token", { grant_type: "client_credentials", client_id: `guess-${i}`, client_secret: "x" }, { from: "127.0.0.5" });
      statuses.push(reply.status);
    }
    expect(statuses.slice(0, limits.failuresPerPeer)).toEqual(Array(limits.failuresPerPeer).fill(401));
    expect(statuses.at(-1)).toBe(429);
  });

  it("limits failed API-key authentications per peer (IssueGrant over Connect JSON)", async () => {
    const server = await start();
    const issueGrant = async (key: string, from: string) =>
      (
        await postFrom(new URL("/tokensmith.v1.TokenService/IssueGrant", server.url).toString(), JSON.stringify({ username: "alice", grants: ["passkey:read"] }), {
          from,
          headers: { "content-type": "application/json", authorization: grantAuth(key) },
        })
      ).status;
    for (let i = 0; i < limits.failuresPerPeer; i += 1) expect(await issueGrant(generateSecret("api_key"), "127.0.0.6")).toBe(401);
    expect(await issueGrant(generateSecret("api_key"), "127.0.0.6")).toBe(429);
    expect(await issueGrant(apiKey, "127.0.0.7")).toBe(200);
  });

  it("with the store down, an in-process limiter still answers 429, and known clients still get tokens", async () => {
    const server = await start();
    // Warm the in-process view of the client while the store is up.
    expect((await post(server.url, "/oauth2/token", tokenRequest(orders.secret), { from: "127.0.0.8" })).status).toBe(200);
    await redis().kill();
    try {
      const statuses: number[] = [];
      for (let i = 0; i <= limits.failuresPerSubjectAndPeer; i += 1) {
        statuses.push((await post(server.url, "/oauth2/token", tokenRequest("wrong"), { from: "127.0.0.9" })).status);
      }
      expect(statuses.at(-1)).toBe(429);
      expect((await post(server.url, "/oauth2/token", tokenRequest(orders.secret), { from: "127.0.0.8" })).status).toBe(200);
    } finally {
      await redis().restart();
    }
  });
});
