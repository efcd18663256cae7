import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { ConnectError } from "@connectrpc/connect";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read", "token:introspect"]);

/**
 * Connect unary POSTs are answered by Tokensmith's own fast path; the same
 * request with a timeout header goes through connect-node. Both must give the
 * same answer, byte for byte where the protocol fixes it.
 */
describe("the Connect unary fast path answers exactly as connect-node does", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ clients: [orders] });
  });
  afterAll(async () => {
    await server?.close();
  });

  const call = async (method: string, body: string | Uint8Array, headers: Record<string, string>, generalPath: boolean) => {
    const response = await fetch(`${server.url}/tokensmith.v1.${method}`, {
      method: "POST",
      headers: { ...headers, ...(generalPath ? { "connect-timeout-ms": "10000" } : {}) },
      body: body as RequestInit["body"],
    });
    return { status: response.status, type: response.headers.get("content-type"), body: Buffer.from(await response.arrayBuffer()) };
  };

  it.each([
    ["Ping JSON", "DiagnosticsService/Ping", '{"payload":"hello"}', {}],
    ["Ping with an unknown field", "DiagnosticsService/Ping", '{"payload":"x","nope":1}', {}],
    ["Ping with an empty body", "DiagnosticsService/Ping", "", {}],
    ["malformed JSON", "DiagnosticsService/Ping", "{", {}],
    ["a wrong field type", "DiagnosticsService/Ping", '{"payload":5}', {}],
    ["no credentials", "TokenService/IssueClientToken", "{}", {}],
    ["a wrong secret", "TokenService/IssueClientToken", "{}", basic(orders.id, "wrong")],
    ["a disallowed scope", "TokenService/IssueClientToken", '{"scopes":["orders:write"]}', basic(orders.id, orders.secret)],
    ["introspecting garbage", "TokenService/Introspect", '{"token":"x"}', basic(orders.id, orders.secret)],
    ["a field named by both its JSON and its proto name", "TokenService/IssueClientToken", '{"client_id":"orders","clientId":"orders"}', {}],
  ])("%s", async (_case, method, body, auth) => {
    const headers = { "content-type": "application/json", ...auth };
    const fast = await call(method, body, headers, false);
    const general = await call(method, body, headers, true);
    expect(fast.status).toBe(general.status);
    expect(fast.type).toBe(general.type);
    const parse = (bytes: Buffer) => (bytes.length === 0 ? {} : (JSON.parse(bytes.toString()) as Record<string, unknown>));
    const strip = (value: Record<string, unknown>) => {
      // The decoder's wording may differ between the two paths; the code and details may not.
      if (typeof value.message === "string" && value.code === "invalid_argument") value.message = "(decode error)";
      return value;
    };
    expect(strip(parse(fast.body))).toEqual(strip(parse(general.body)));
  });

  it("binary (application/proto) requests and responses match", async () => {
    const { PingRequestSchema, PingResponseSchema } = await import("../../gen/tokensmith/v1/diagnostics_service_pb.js");
    const { create, fromBinary, toBinary } = await import("@bufbuild/protobuf");
    const request = toBinary(PingRequestSchema, create(PingRequestSchema, { payload: "bin" }));
    const fast = await call("DiagnosticsService/Ping", request, { "content-type": "application/proto" }, false);
    const general = await call("DiagnosticsService/Ping", request, { "content-type": "application/proto" }, true);
    expect(fast).toEqual(general);
    expect(fromBinary(PingResponseSchema, fast.body).payload).toBe("bin");
  });

  it("a token issued on the fast path is a real token", async () => {
    const issued = await call("TokenService/IssueClientToken", '{"scopes":["orders:read"]}', { "content-type": "application/json", ...basic(orders.id, orders.secret) }, false);
    expect(issued.status).toBe(200);
    const token = (JSON.parse(issued.body.toString()) as { accessToken: string }).accessToken;
    const introspected = await call("TokenService/Introspect", JSON.stringify({ token }), { "content-type": "application/json", ...basic(orders.id, orders.secret) }, false);
    expect(JSON.parse(introspected.body.toString())).toMatchObject({ active: true, clientId: "orders" });
  });

  it("a body over 64 KiB is refused before parsing, as connect-node does", async () => {
    const body = JSON.stringify({ payload: "x".repeat(70_000) });
    const fast = await call("DiagnosticsService/Ping", body, { "content-type": "application/json" }, false);
    const general = await call("DiagnosticsService/Ping", body, { "content-type": "application/json" }, true);
    expect(fast.status).toBe(429);
    expect(general.status).toBe(429);
    expect(JSON.parse(fast.body.toString()).code).toBe("resource_exhausted");
  });

  it("counts fast-path calls in the metrics like any other RPC", async () => {
    await call("DiagnosticsService/Ping", "{}", { "content-type": "application/json" }, false);
    const text = await server.domain.metrics.registry.metrics();
    expect(text).toMatch(/tokensmith_requests_total\{protocol="rpc",method="Ping",code="ok"\} [1-9]/);
    expect(text).toMatch(/tokensmith_requests_total\{protocol="rpc",method="IssueClientToken",code="Unauthenticated"\} [1-9]/);
  });
});

describe("the gRPC unary fast path answers exactly as connect-node does", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ clients: [orders] });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** With a deadline the call goes through connect-node; without, through the fast path. */
  const both = async <T>(call: (rpc: ReturnType<typeof tokenClient>, options: { timeoutMs?: number }) => Promise<T>) => {
    const rpc = tokenClient(transports["grpc (HTTP/2)"](server.url));
    const settle = (promise: Promise<T>) =>
      promise.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => {
          const e = ConnectError.from(error);
          return { ok: false as const, code: e.code, message: e.rawMessage, details: e.findDetails(OAuthErrorDetailSchema).map((d) => d.error), retryAfter: e.metadata.get("retry-after") };
        },
      );
    return { fast: await settle(call(rpc, {})), general: await settle(call(rpc, { timeoutMs: 10_000 })) };
  };

  type Call = (rpc: ReturnType<typeof tokenClient>, o: { timeoutMs?: number }) => Promise<unknown>;
  it.each<[string, Call]>([
    ["no credentials", (rpc, o) => rpc.issueClientToken({}, o)],
    ["a wrong secret", (rpc, o) => rpc.issueClientToken({}, { ...o, headers: basic(orders.id, "x") })],
    ["a disallowed scope", (rpc, o) => rpc.issueClientToken({ scopes: ["nope"] }, { ...o, headers: basic(orders.id, orders.secret) })],
    ["an inactive token", (rpc, o) => rpc.introspect({ token: "x" }, { ...o, headers: basic(orders.id, orders.secret) })],
    ["GetJwks", (rpc, o) => rpc.getJwks({}, o)],
  ])("%s", async (_case, call) => {
    const { fast, general } = await both(call);
    expect(fast).toEqual(general);
  });

  it("issues a real token", async () => {
    const { fast } = await both((rpc, o) => rpc.issueClientToken({ scopes: ["orders:read"] }, { ...o, headers: basic(orders.id, orders.secret) }));
    expect(fast.ok && fast.value.tokenType).toBe("Bearer");
    const token = fast.ok ? fast.value.accessToken : "";
    expect(server.domain.accessTokens.verify(token).ok).toBe(true);
  });
});
