import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient, transports, type TransportName } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read", "token:introspect"]);

/**
 * rpcFastPath: false sends every call through connect-node (bench:ab compares
 * the two; see rpc/connect-unary-fast-path.ts). Everything answers as with it on.
 */
describe.each([true, false])("with rpcFastPath %s", (rpcFastPath) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ clients: [orders], config: { rpcFastPath } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each(Object.keys(transports) as TransportName[])("%s: issues, introspects, and refuses bad credentials and bad input with the same codes", async (name) => {
    const rpc = tokenClient(transports[name](server.url));
    const auth = { headers: basic(orders.id, orders.secret) };
    const { accessToken, scopes } = await rpc.issueClientToken({ scopes: ["orders:read"] }, auth);
    expect(scopes).toEqual(["orders:read"]);
    expect(await rpc.introspect({ token: accessToken }, auth)).toMatchObject({ active: true, clientId: "orders", scopes: ["orders:read"] });
    await expectRpcError(rpc.issueClientToken({}, { headers: basic(orders.id, "wrong") }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(rpc.issueClientToken({ scopes: ["orders:write"] }, auth), Code.PermissionDenied, "invalid_scope");
    await expectRpcError(rpc.introspect({ token: "" }, auth), Code.InvalidArgument, "invalid_request");
  });
});
