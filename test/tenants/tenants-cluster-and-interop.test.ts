import { Code } from "@connectrpc/connect";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { storeKeys } from "../../src/store/store.js";
import { tenantKey } from "../../src/store/tenant-store.js";
import { BACKENDS } from "../support/admin.js";
import { clusterBackend } from "../support/backends.js";
import { postFormFrom, type SourcedReply } from "../support/oauth.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports, type TestClient } from "../support/tokensmith.js";

/**
 * Tenants (issue 19) from the outside: an OAuth library that knows nothing of
 * Tokensmith discovers a tenant's issuer; tenants on a Redis Cluster stay
 * isolated and spread over its slots; failed authentications count per
 * tenant; and an instance holds at most tenantCacheSize tenants, reloading an
 * evicted one without its tokens noticing.
 */

const orders = testClient("orders", ["orders:read", "token:introspect"]);
const declared = (clients: TestClient[]) => clients.map((client) => ({ id: client.id, secretHashes: [hashSecret(client.secret)], scopes: client.scopes }));
const urlOf = (server: RunningServer) => server.url.replace(/\/$/, "");

/** The tenant's OAuth endpoint `endpoint` (token, introspect, revoke), a form POST with Basic, from a chosen loopback address. */
function oauth(base: string, tenant: string, endpoint: string, form: Record<string, string>, client = orders, from = "127.0.0.1"): Promise<SourcedReply> {
  return postFormFrom(base, `/t/${tenant}/oauth2/${endpoint}`, form, { authorization: basic(client.id, client.secret).authorization, from });
}

async function tokenOf(base: string, tenant: string): Promise<string> {
  const reply = await oauth(base, tenant, "token", { grant_type: "client_credentials" });
  expect(reply.status).toBe(200);
  return reply.body.access_token as string;
}

const isActive = async (base: string, tenant: string, token: string) => (await oauth(base, tenant, "introspect", { token })).body.active;

describe("openid-client discovers a tenant's issuer", () => {
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer({ config: { tenants: [{ id: "acme", clients: declared([orders]) }] } });
    base = urlOf(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("finds RFC 8414 metadata at /.well-known/oauth-authorization-server/t/acme; its token has the tenant's iss and verifies with the tenant's jwks_uri only", async () => {
    const issuer = new URL(`${base}/t/acme`);
    const asked: string[] = [];
    const recorded: oidc.CustomFetch = (url, options) => {
      asked.push(new URL(url).pathname);
      return fetch(url, options);
    };
    const config = await oidc.discovery(issuer, orders.id, undefined, oidc.ClientSecretBasic(orders.secret), {
      algorithm: "oauth2",
      execute: [oidc.allowInsecureRequests],
      [oidc.customFetch]: recorded,
    });
    // RFC 8414 §3.1: the well-known suffix goes before the issuer's path; openid-client asks nothing else.
    expect(asked).toEqual(["/.well-known/oauth-authorization-server/t/acme"]);
    const metadata = config.serverMetadata();
    expect(metadata).toMatchObject({
      issuer: issuer.href,
      token_endpoint: `${issuer.href}/oauth2/token`,
      introspection_endpoint: `${issuer.href}/oauth2/introspect`,
      jwks_uri: `${issuer.href}/.well-known/jwks.json`,
    });

    const tokens = await oidc.clientCredentialsGrant(config, { scope: "orders:read" });
    expect(asked.at(-1)).toBe("/t/acme/oauth2/token");
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(metadata.jwks_uri!)), {
      issuer: issuer.href,
      typ: "at+jwt",
    });
    expect(payload).toMatchObject({ iss: issuer.href, client_id: orders.id, scope: "orders:read" });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, iss: issuer.href, client_id: orders.id });
    // The deployment's own keys are not the tenant's.
    const defaultKids = ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
    expect(defaultKids).not.toContain(protectedHeader.kid);
  });
});

describe("tenants on a Redis Cluster", () => {
  const backend = clusterBackend();
  const tenants = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
  const apiKeys = new Map(tenants.map((tenant) => [tenant, generateSecret("api_key")]));
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    await backend.start();
    const { config } = backend.serverOptions();
    server = await startTestServer({
      config: {
        ...config,
        tenants: tenants.map((id) => ({
          id,
          clients: declared([orders]),
          apiKeys: [{ name: "backend", keyHash: hashSecret(apiKeys.get(id)!), scopes: ["passkey:read"] }],
        })),
      },
    });
    base = urlOf(server);
  });
  afterAll(async () => {
    await server?.close();
    await backend.stop();
  });

  it("the same client id and secret in two tenants: each token is active in its own tenant only, and a revocation stays in its tenant", async () => {
    const [acme, globex] = [await tokenOf(base, "acme"), await tokenOf(base, "globex")];
    expect([await isActive(base, "acme", acme), await isActive(base, "globex", acme)]).toEqual([true, false]);
    expect([await isActive(base, "globex", globex), await isActive(base, "acme", globex)]).toEqual([true, false]);

    // RFC 7009: revoking a token the server does not know (here: another tenant's) is a 200 that changes nothing.
    expect((await oauth(base, "globex", "revoke", { token: acme })).status).toBe(200);
    expect(await isActive(base, "acme", acme)).toBe(true);
    expect((await oauth(base, "acme", "revoke", { token: acme })).status).toBe(200);
    expect(await isActive(base, "acme", acme)).toBe(false);
    expect(await isActive(base, "globex", globex)).toBe(true);
  });

  it("API-key grants per tenant: a tenant's config API key issues grants there, is unknown elsewhere, and its grant introspects in its tenant only", async () => {
    const rpcOf = (tenant: string) => tokenClient(transports["grpc (HTTP/2)"](`${base}/t/${tenant}`));
    const request = { username: "alice", grants: ["passkey:read"] };
    const { token: grant } = await rpcOf("acme").issueGrant(request, { headers: apiKeyAuth(apiKeys.get("acme")!) });
    await expectRpcError(rpcOf("globex").issueGrant(request, { headers: apiKeyAuth(apiKeys.get("acme")!) }), Code.Unauthenticated, "invalid_client");
    await expectRpcError(tokenClient(transports["grpc (HTTP/2)"](base)).issueGrant(request, { headers: apiKeyAuth(apiKeys.get("acme")!) }), Code.Unauthenticated, "invalid_client");
    const introspect = (tenant: string) => rpcOf(tenant).introspect({ token: grant, consume: false }, { headers: basic(orders.id, orders.secret) });
    expect(await introspect("acme")).toMatchObject({ active: true, tokenUse: "grant", username: "alice" });
    expect((await introspect("globex")).active).toBe(false);
  });

  it("each tenant's singletons (key ring, clients hash) have their own hash slots, spread over the Cluster's masters", async () => {
    for (const tenant of tenants) await tokenOf(base, tenant); // loads the tenant: its key ring is created in the store
    const prefix = server.domain.config.store.type === "redis" ? server.domain.config.store.keyPrefix : "";
    const nodes = backend.cluster().servers;
    const slotOf = async (key: string) => Number(await nodes[0]!.command(["CLUSTER", "KEYSLOT", key]));
    /** The master that holds `key`: the others answer MOVED. */
    const holderOf = async (key: string) => {
      const answers = await Promise.all(nodes.map((node) => node.command(["EXISTS", key]).catch(() => "MOVED")));
      expect(answers.filter((answer) => answer === 1)).toHaveLength(1);
      return answers.indexOf(1);
    };
    const rings = tenants.map((tenant) => prefix + tenantKey(tenant, storeKeys.signingKeys()));
    const clientHashes = tenants.map((tenant) => prefix + tenantKey(tenant, storeKeys.clients()));
    const ringSlots = await Promise.all(rings.map(slotOf));
    const clientSlots = await Promise.all(clientHashes.map(slotOf));
    expect(new Set(ringSlots).size).toBe(tenants.length);
    expect(new Set(clientSlots).size).toBe(tenants.length);
    expect(ringSlots).not.toContain(await slotOf(prefix + storeKeys.signingKeys()));
    const holders = await Promise.all(rings.map(holderOf));
    expect(new Set(holders).size).toBe(nodes.length);
  });

  describe("failed authentications count per tenant", () => {
    const limits = { failuresPerPeer: 6, failuresPerSubjectAndPeer: 2, windowSeconds: 60 };
    let limited: RunningServer;
    let limitedBase: string;
    beforeAll(async () => {
      const { config } = backend.serverOptions();
      limited = await startTestServer({
        config: { ...config, rateLimits: limits, tenants: ["acme", "globex"].map((id) => ({ id, clients: declared([orders]) })) },
      });
      limitedBase = urlOf(limited);
    });
    afterAll(async () => {
      await limited?.close();
    });

    it("a client id locked out from a peer in one tenant still authenticates from that peer in another", async () => {
      const wrong = { ...orders, secret: generateSecret("client_secret") };
      const attempt = (tenant: string, client: TestClient) => oauth(limitedBase, tenant, "token", { grant_type: "client_credentials" }, client, "127.0.0.2");
      for (let i = 0; i < limits.failuresPerSubjectAndPeer; i++) expect((await attempt("acme", wrong)).status).toBe(401);
      const refused = await attempt("acme", wrong);
      expect([refused.status, refused.body.error]).toEqual([429, "slow_down"]);
      expect((await attempt("acme", orders)).status).toBe(429);
      // The same client id from the same peer, in another tenant: another client, other counters.
      expect((await attempt("globex", orders)).status).toBe(200);
      expect((await attempt("globex", wrong)).status).toBe(401);
    });
  });
});

describe.each(BACKENDS)("an instance holds at most tenantCacheSize tenants, on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  const tenants = Array.from({ length: 10 }, (_, index) => `tenant-${index}`);
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    await backend.start();
    const { config, ...start } = backend.serverOptions();
    server = await startTestServer({ ...start, config: { ...config, tenantCacheSize: 3, tenants: tenants.map((id) => ({ id, clients: declared([orders]) })) } });
    base = urlOf(server);
  });
  afterAll(async () => {
    await server?.close();
    await backend.stop();
  });

  it("10 tenants used in turn: at most 3 loaded; an evicted tenant loads again and its earlier tokens still introspect active and verify", async () => {
    const loaded = () => server.domain.tenants.loadedCount;
    const issued = new Map<string, string>();
    for (const tenant of tenants) {
      issued.set(tenant, await tokenOf(base, tenant));
      expect(loaded()).toBeLessThanOrEqual(3);
    }
    expect(loaded()).toBe(3);
    // tenant-0 was dropped long ago: this request loads it again from the store.
    for (const tenant of tenants) {
      expect(await isActive(base, tenant, issued.get(tenant)!)).toBe(true);
      const keys = createRemoteJWKSet(new URL(`${base}/t/${tenant}/.well-known/jwks.json`));
      await expect(jwtVerify(issued.get(tenant)!, keys, { issuer: `${base}/t/${tenant}` })).resolves.toBeDefined();
      expect(loaded()).toBeLessThanOrEqual(3);
    }
    expect(loaded()).toBe(3);
  });
});
