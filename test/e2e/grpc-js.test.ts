import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { startTestServer, testClient } from "../support/tokensmith.js";
import { grpcError, healthClient, oauthDetailsOf, serverStream, tokenServiceClient, unary, type GrpcJsClient } from "./support/grpc-js.js";
import { switchableStore } from "../support/switchable-store.js";

/**
 * Every TokenService RPC and grpc.health.v1 from @grpc/grpc-js, the reference
 * gRPC client for Node, with stubs loaded at run time from proto/ by
 * @grpc/proto-loader: nothing of Tokensmith's own code on the client side.
 * Credentials travel as `authorization` metadata.
 */

const orders = testClient("orders-service", ["orders:read", "orders:write"]);
const resourceServer = testClient("resource-server", ["token:introspect", "grant:consume"]);
const apiKey = generateSecret("api_key");
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const apiKeyAuthorization = basic(apiKey, "");

const store = switchableStore();
let server: RunningServer;
let tokens: GrpcJsClient;
let health: GrpcJsClient;

beforeAll(async () => {
  server = await startTestServer({
    store: store.store,
    clients: [orders, resourceServer],
    config: { apiKeys: [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read", "external:verify"] }] },
  });
  tokens = tokenServiceClient(server.url);
  health = healthClient(server.url);
});

afterAll(async () => {
  tokens?.close();
  health?.close();
  await server?.close();
  await store.store.close();
});

describe("tokensmith.v1.TokenService from grpc-js", () => {
  const issue = (scopes: string[] = []) => unary(tokens, "IssueClientToken", { scopes }, basic(orders.id, orders.secret));
  const introspect = (token: string, consume = false) =>
    unary(tokens, "Introspect", { token, consume }, basic(resourceServer.id, resourceServer.secret));

  it("IssueClientToken: a Bearer JWT for the client credentials in metadata", async () => {
    const response = await issue(["orders:read"]);
    expect(response).toMatchObject({ tokenType: "Bearer", expiresIn: "3600", scopes: ["orders:read"] });
    expect(String(response.accessToken).split(".")).toHaveLength(3);
  });

  it("IssueClientToken with a wrong secret: UNAUTHENTICATED with the OAuth error invalid_client", async () => {
    const error = await grpcError(unary(tokens, "IssueClientToken", {}, basic(orders.id, "wrong")));
    expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(error.details).toBe("client authentication failed");
    expect(oauthDetailsOf(error).map((detail) => detail.error)).toEqual(["invalid_client"]);
  });

  it("IssueClientToken for a scope the client may not have: PERMISSION_DENIED, invalid_scope", async () => {
    const error = await grpcError(issue(["billing:read"]));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(oauthDetailsOf(error).map((detail) => detail.error)).toEqual(["invalid_scope"]);
  });

  it("Introspect: an access token is active with its claims", async () => {
    const { accessToken } = await issue(["orders:write"]);
    const result = await introspect(String(accessToken));
    expect(result).toMatchObject({ active: true, clientId: orders.id, scopes: ["orders:write"], tokenType: "Bearer", tokenUse: "access_token" });
  });

  it("IssueGrant and Introspect with consume: a single-use grant is active exactly once", async () => {
    const grant = await unary(tokens, "IssueGrant", { username: "alice", grants: ["passkey:read"] }, apiKeyAuthorization);
    expect(grant).toMatchObject({ grants: ["passkey:read"], expiresIn: "30" });
    expect(await introspect(String(grant.token), true)).toMatchObject({ active: true, username: "alice", scopes: ["passkey:read"] });
    expect(await introspect(String(grant.token), true)).toMatchObject({ active: false });
  });

  it("IssueExternalAuthGrant: a grant with scope external:verify", async () => {
    const grant = await unary(tokens, "IssueExternalAuthGrant", { username: "bob" }, apiKeyAuthorization);
    expect(await introspect(String(grant.token))).toMatchObject({ active: true, username: "bob", scopes: ["external:verify"] });
  });

  it("Revoke: the issuing client revokes its token, which is then inactive", async () => {
    const { accessToken } = await issue();
    expect(await unary(tokens, "Revoke", { token: accessToken }, basic(orders.id, orders.secret))).toEqual({});
    expect(await introspect(String(accessToken))).toMatchObject({ active: false });
  });

  it("GetJwks: the public signing keys, without credentials", async () => {
    const { keys } = (await unary(tokens, "GetJwks", {})) as { keys: Record<string, string>[] };
    expect(keys.length).toBeGreaterThan(0);
    expect(keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(keys[0]?.kid).not.toBe("");
  });
});

describe("grpc.health.v1.Health from grpc-js", () => {
  it.each(["", "tokensmith.v1.TokenService"])("Check %j: SERVING", async (service) => {
    expect(await unary(health, "Check", { service })).toEqual({ status: "SERVING" });
  });

  it("Check of an unknown service: NOT_FOUND", async () => {
    const error = await grpcError(unary(health, "Check", { service: "acme.v1.Nothing" }));
    expect(error.code).toBe(grpc.status.NOT_FOUND);
  });

  it("Check while the store is unreachable: NOT_SERVING, for the server and for TokenService", async () => {
    store.reachable = false;
    try {
      expect(await unary(health, "Check", { service: "" })).toEqual({ status: "NOT_SERVING" });
      expect(await unary(health, "Check", { service: "tokensmith.v1.TokenService" })).toEqual({ status: "NOT_SERVING" });
    } finally {
      store.reachable = true;
    }
    expect(await unary(health, "Check", { service: "" })).toEqual({ status: "SERVING" });
  });

  it("Watch: the current status at once, then each change as the store goes away and comes back", async () => {
    const watch = statusStream(serverStream(health, "Watch", { service: "tokensmith.v1.TokenService" }));
    try {
      expect(await watch.next()).toBe("SERVING");
      // No Check needed: open watches re-probe the store on their own.
      store.reachable = false;
      expect(await watch.next()).toBe("NOT_SERVING");
      store.reachable = true;
      // A Check by anyone also tells every watcher at once.
      expect(await unary(health, "Check", { service: "" })).toEqual({ status: "SERVING" });
      expect(await watch.next()).toBe("SERVING");
    } finally {
      store.reachable = true;
      watch.cancel();
    }
  });

  it("Watch of an unknown service: SERVICE_UNKNOWN, and the call stays open", async () => {
    const watch = statusStream(serverStream(health, "Watch", { service: "acme.v1.Nothing" }));
    try {
      expect(await watch.next()).toBe("SERVICE_UNKNOWN");
      expect(watch.ended()).toBe(false);
    } finally {
      watch.cancel();
    }
  });
});

/** The statuses a Watch call delivers, one at a time; fails when none comes within the time limit. */
function statusStream(call: grpc.ClientReadableStream<{ status: string }>) {
  const received: string[] = [];
  const waiting: ((status: string) => void)[] = [];
  let ended = false;
  call.on("data", (message: { status: string }) => {
    const waiter = waiting.shift();
    if (waiter) waiter(message.status);
    else received.push(message.status);
  });
  call.on("error", () => undefined); // the cancellation at the end
  call.on("end", () => (ended = true));
  call.on("status", () => (ended = true));
  return {
    next(timeoutMs = 5_000): Promise<string> {
      const ready = received.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no status within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((status) => {
          clearTimeout(timer);
          resolve(status);
        });
      });
    },
    ended: () => ended,
    cancel: () => call.cancel(),
  };
}
