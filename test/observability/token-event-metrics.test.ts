import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXTERNAL_VERIFY_SCOPE } from "../../src/domain/grant.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { postForm } from "../support/oauth.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * Tokens issued and revocations are counted by what the domain did, the
 * same whichever path served the call (fast path, connect-node, HTTP
 * facade), and a refused call counts nothing.
 */

const orders = testClient("orders", ["orders:read"]);
const apiKey = generateSecret("api_key");

function sample(text: string, series: string): number {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe("issuing and revocation metrics", () => {
  let redis: RedisServer;
  let server: RunningServer;

  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({
      clients: [orders],
      config: {
        store: { type: "redis", url: redis.url },
        apiKeys: [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read", EXTERNAL_VERIFY_SCOPE] }],
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it("count what was issued and revoked over every path, and nothing that was refused", async () => {
    const fast = tokenClient(transports["grpc (HTTP/2)"](server.url));
    const general = tokenClient(transports["grpc-web (HTTP/1.1)"](server.url));
    const client = { headers: basic(orders.id, orders.secret) };
    const key = { headers: apiKeyAuth(apiKey) };

    const { accessToken } = await fast.issueClientToken({}, client);
    await general.issueClientToken({}, client);
    expect((await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials" }, client.headers)).status).toBe(200);
    const grant = await fast.issueGrant({ username: "alice", grants: ["passkey:read"] }, key);
    await general.issueExternalAuthGrant({ username: "bob" }, key);

    await fast.revoke({ token: accessToken }, client);
    await general.revoke({ token: grant.token }, key);
    expect((await postForm(`${server.url}/oauth2/revoke`, { token: "unknown" }, client.headers)).status).toBe(200);

    // Refused: no token, no revocation.
    await expectRpcError(fast.issueClientToken({}, { headers: basic(orders.id, "wrong") }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(general.issueGrant({ username: "carol", grants: ["orders:read"] }, key), Code.PermissionDenied, "invalid_scope");
    await expectRpcError(fast.revoke({ token: accessToken }, {}), Code.Unauthenticated, "invalid_client");
    expect((await postForm(`${server.url}/oauth2/revoke`, { token: "unknown" }, basic(orders.id, "wrong"))).status).toBe(401);

    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect({
      accessTokens: sample(text, 'tokensmith_tokens_issued_total{kind="access_token"}'),
      grants: sample(text, 'tokensmith_tokens_issued_total{kind="grant"}'),
      revocations: sample(text, "tokensmith_revocations_total"),
    }).toEqual({ accessTokens: 3, grants: 2, revocations: 3 });
  });
});
