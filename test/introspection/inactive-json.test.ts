import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * RFC 7662 §2.2: `active` is REQUIRED in every introspection response. proto3 leaves a false
 * bool out of JSON, so Connect JSON answered an inactive token with `{}`; `active` has explicit
 * presence now and is always set. Through the fast path and through connect-node alike.
 */

const resourceServer = testClient("resource-server", ["token:introspect", "grant:consume"]);
const apiKey = generateSecret("api_key");

describe.each([true, false])("Connect JSON Introspect with rpcFastPath %s", (rpcFastPath) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({
      clients: [resourceServer],
      config: { rpcFastPath, apiKeys: [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] }] },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** curl -s -u … -H 'content-type: application/json' -d '{"token":…}' …/Introspect: the raw body. */
  const introspectJson = async (authorization: Record<string, string>, body: object) => {
    const response = await fetch(`${server.url}/tokensmith.v1.TokenService/Introspect`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authorization },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return response.text();
  };
  const asResourceServer = basic(resourceServer.id, resourceServer.secret);

  it('a token that is not one: exactly {"active":false}', async () => {
    expect(await introspectJson(asResourceServer, { token: "not-a-token" })).toBe('{"active":false}');
  });

  it('a revoked access token: {"active":false}, and {"active":true,…} before', async () => {
    const rpc = tokenClient(transports["connect JSON (HTTP/1.1)"](server.url));
    const { accessToken } = await rpc.issueClientToken({}, { headers: asResourceServer });
    expect(JSON.parse(await introspectJson(asResourceServer, { token: accessToken }))).toMatchObject({ active: true, clientId: "resource-server" });
    await rpc.revoke({ token: accessToken }, { headers: asResourceServer });
    expect(await introspectJson(asResourceServer, { token: accessToken })).toBe('{"active":false}');
  });

  it('a consumed grant: {"active":false} the second time', async () => {
    const rpc = tokenClient(transports["connect JSON (HTTP/1.1)"](server.url));
    const { token } = await rpc.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuth(apiKey) });
    expect(JSON.parse(await introspectJson(asResourceServer, { token, consume: true }))).toMatchObject({ active: true, username: "alice" });
    expect(await introspectJson(asResourceServer, { token, consume: true })).toBe('{"active":false}');
    expect(await introspectJson(apiKeyAuth(apiKey), { token })).toBe('{"active":false}');
  });

  it("binary protocols still decode an inactive answer as active false", async () => {
    for (const name of ["grpc (HTTP/2)", "connect binary (HTTP/2)"] as const) {
      const answer = await tokenClient(transports[name](server.url)).introspect({ token: "not-a-token" }, { headers: asResourceServer });
      expect(answer.active, name).toBe(false);
      expect(answer.clientId, name).toBe("");
    }
  });
});
