import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { GRANT_PREFIX } from "../../src/domain/grant.js";
import type { RunningServer } from "../../src/server.js";
import { capturedLog } from "../support/captured-log.js";
import { postForm } from "../support/oauth.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, startTestServer, tokenClient, transports } from "../support/tokensmith.js";

/**
 * The line a failed call leaves in the log carries the id of that request,
 * whichever path served it: the unary fast path (gRPC and Connect without a
 * deadline), connect-node (gRPC-Web, a deadline) or the OAuth HTTP facade.
 * The fast path used to log `reqId: undefined` (issue 17, item 4).
 */

const apiKey = generateSecret("api_key");

/** A call that needs the store, made with the request id `id`; resolves once the caller has its (failed) answer. */
type FailingCall = (baseUrl: string, id: string) => Promise<void>;

const issueGrantOver =
  (transport: keyof typeof transports, timeoutMs?: number): FailingCall =>
  async (baseUrl, id) => {
    const rpc = tokenClient(transports[transport](baseUrl));
    const call = rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: { ...apiKeyAuth(apiKey), "x-request-id": id }, timeoutMs });
    await expectRpcError(call, Code.Unavailable, "temporarily_unavailable");
  };

const cases: Array<[string, FailingCall]> = [
  ["gRPC without a deadline (fast path)", issueGrantOver("grpc (HTTP/2)")],
  ["Connect JSON without a deadline (fast path)", issueGrantOver("connect JSON (HTTP/1.1)")],
  ["gRPC-Web (connect-node)", issueGrantOver("grpc-web (HTTP/1.1)")],
  ["gRPC with a deadline (connect-node)", issueGrantOver("grpc (HTTP/2)", 10_000)],
  [
    "POST /oauth2/revoke (HTTP facade)",
    async (baseUrl, id) => {
      const result = await postForm(`${baseUrl}/oauth2/revoke`, { token: `${GRANT_PREFIX}${"a".repeat(43)}` }, { ...apiKeyAuth(apiKey), "x-request-id": id });
      expect(result.status, result.text).toBe(503);
    },
  ],
];

describe("a call failing for want of the store logs its request id", () => {
  let redis: RedisServer;
  let server: RunningServer | undefined;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await redis.restart();
    await server?.close();
    server = undefined;
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it.each(cases)("%s", async (_name, failingCall) => {
    const log = capturedLog("info");
    server = await startTestServer({
      logger: log.logger,
      config: { store: { type: "redis", url: redis.url }, apiKeys: [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] }] },
    });
    await redis.kill();
    const id = `failing-call-${Math.random().toString(36).slice(2)}`;
    await failingCall(server.url, id);
    const lines = log.matching(/^store unavailable$/);
    expect(lines.map((line) => line.reqId)).toEqual([id]);
  });
});

