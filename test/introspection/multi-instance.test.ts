import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { clusterBackend, redisBackend, type Backend } from "../support/backends.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const orders = testClient("orders", ["orders:read"]);
const resourceServer = testClient("resource-server", ["token:introspect", "grant:consume"]);
const apiKey = generateSecret("api_key");

describe.each<[string, () => Backend]>([
  ["redis standalone", redisBackend],
  ["redis cluster", clusterBackend],
])("two Tokensmith instances sharing %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let a: RunningServer;
  let b: RunningServer;

  beforeAll(async () => {
    await backend.start();
    const { config } = backend.serverOptions();
    const shared = {
      clients: [orders, resourceServer],
      config: {
        ...config,
        issuer: "http://tokensmith.test",
        apiKeys: [{ name: "backend", keyHash: hashSecret(apiKey), scopes: ["passkey:read"] }],
      },
    };
    // Started concurrently: both race to create the signing key ring; one must win for both.
    [a, b] = await Promise.all([startTestServer(shared), startTestServer(shared)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend.stop();
  });

  it("share one signing key ring", () => {
    expect(a.domain.keyRing.publicJwks()).toEqual(b.domain.keyRing.publicJwks());
  });

  it("a token issued on A is introspected on B, revoked on B, and inactive on A at once", async () => {
    const onA = tokenClient(transports["grpc (HTTP/2)"](a.url));
    const onB = tokenClient(transports["connect JSON (HTTP/1.1)"](b.url));
    const { accessToken } = await onA.issueClientToken({}, { headers: basic(orders.id, orders.secret) });
    const introspector = { headers: basic(resourceServer.id, resourceServer.secret) };
    expect((await onB.introspect({ token: accessToken }, introspector)).active).toBe(true);
    await onB.revoke({ token: accessToken }, { headers: basic(orders.id, orders.secret) });
    expect((await onA.introspect({ token: accessToken }, introspector)).active).toBe(false);
    expect((await onB.introspect({ token: accessToken }, introspector)).active).toBe(false);
  });

  it("a grant issued on A is consumed once across both instances", async () => {
    const onA = tokenClient(transports["grpc (HTTP/2)"](a.url));
    const onB = tokenClient(transports["grpc (HTTP/2)"](b.url));
    const grant = await onA.issueGrant(
      { username: "alice", grants: ["passkey:read"] },
      { headers: { authorization: `Basic ${Buffer.from(`${apiKey}:`).toString("base64")}` } },
    );
    const introspector = { headers: basic(resourceServer.id, resourceServer.secret) };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? onA : onB).introspect({ token: grant.token, consume: true }, introspector)),
    );
    expect(results.filter((result) => result.active)).toHaveLength(1);
  });
});
