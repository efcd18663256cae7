import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { hashSecret } from "../../src/domain/secret-format.js";
import type { ConfigInput } from "../../src/config.js";
import type { RunningServer } from "../../src/server.js";
import { BACKENDS, decodeJwt } from "../support/admin.js";
import type { Backend } from "../support/backends.js";
import { basic, startTestServer, testClient, transports, type TransportName } from "../support/tokensmith.js";

/**
 * Tenants (issue 19): one deployment, many isolated issuers at
 * `<base>/t/<tenant>`, picked by path prefix or the tokensmith-tenant header.
 * The same client id and secret in two tenants are two unrelated clients.
 */

const shared = testClient("orders", ["orders:read", "token:introspect"]);
const tenantAdmin = testClient("acme-admin", ["tokensmith:admin"]);
const declared = (clients: typeof shared[]) => clients.map((client) => ({ id: client.id, secretHashes: [hashSecret(client.secret)], scopes: client.scopes }));

/** Starts `backend`, then a server on it with `shared` in the default tenant and the tenants acme, globex and initech declared (`extra` config on top). */
async function startWithTenants(backend: Backend, extra: Partial<ConfigInput> = {}): Promise<RunningServer> {
  await backend.start();
  const { config, ...start } = backend.serverOptions();
  return startTestServer({
    ...start,
    clients: [shared],
    config: {
      ...config,
      ...extra,
      tenants: [
        { id: "acme", clients: declared([shared, tenantAdmin]) },
        { id: "globex", clients: declared([shared]) },
        { id: "initech", clients: declared([shared]) },
      ],
    },
  });
}

describe.each(BACKENDS)("tenants on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startWithTenants(backend);
    base = server.url.replace(/\/$/, "");
  });
  afterAll(async () => {
    await server?.close();
    await backend.stop();
  });

  const tokenAt = async (prefix: string, client = shared) => {
    const response = await fetch(`${base}${prefix}/oauth2/token`, {
      method: "POST",
      headers: { ...basic(client.id, client.secret), "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
    return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string } };
  };
  const introspectAt = async (prefix: string, token: string) => {
    const response = await fetch(`${base}${prefix}/oauth2/introspect`, {
      method: "POST",
      headers: { ...basic(shared.id, shared.secret), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }).toString(),
    });
    return ((await response.json()) as { active: boolean; iss?: string }).active;
  };

  it("each tenant issues under its own issuer and keys; its JWKS verifies its tokens and no other tenant's", async () => {
    const acme = (await tokenAt("/t/acme")).body.access_token!;
    const main = (await tokenAt("")).body.access_token!;
    expect(decodeJwt(acme).payload.iss).toBe(`${base}/t/acme`);
    expect(decodeJwt(main).payload.iss).toBe(base);
    const acmeKeys = createRemoteJWKSet(new URL(`${base}/t/acme/.well-known/jwks.json`));
    await expect(jwtVerify(acme, acmeKeys, { issuer: `${base}/t/acme` })).resolves.toBeDefined();
    await expect(jwtVerify(main, acmeKeys)).rejects.toThrow();
    const mainKids = ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
    expect(mainKids).not.toContain(decodeJwt(acme).header.kid);
  });

  it("the same client id and secret in two tenants are two clients: a token of one is inactive in the other", async () => {
    const acme = (await tokenAt("/t/acme")).body.access_token!;
    const globex = (await tokenAt("/t/globex")).body.access_token!;
    expect([await introspectAt("/t/acme", acme), await introspectAt("/t/globex", acme), await introspectAt("", acme)]).toEqual([true, false, false]);
    expect([await introspectAt("/t/globex", globex), await introspectAt("/t/acme", globex)]).toEqual([true, false]);
  });

  it("serves RFC 8414 metadata at /.well-known/oauth-authorization-server/t/<tenant> and /t/<tenant>/.well-known/…, with the tenant's issuer", async () => {
    for (const path of ["/.well-known/oauth-authorization-server/t/acme", "/t/acme/.well-known/oauth-authorization-server"]) {
      const metadata = (await (await fetch(`${base}${path}`)).json()) as { issuer: string; token_endpoint: string; jwks_uri: string };
      expect(metadata).toMatchObject({ issuer: `${base}/t/acme`, token_endpoint: `${base}/t/acme/oauth2/token`, jwks_uri: `${base}/t/acme/.well-known/jwks.json` });
    }
  });

  it("an unknown or ill-formed tenant answers like an unknown client; its documents are 404", async () => {
    for (const prefix of ["/t/nobody", "/t/Not_A_Slug"]) {
      expect(await tokenAt(prefix)).toEqual({ status: 401, body: expect.objectContaining({ error: "invalid_client" }) });
      expect((await fetch(`${base}${prefix}/.well-known/jwks.json`)).status).toBe(404);
    }
    const rpc = createClient(TokenService, transports["grpc (HTTP/2)"](`${base}/t/nobody`));
    const refused = await rpc.issueClientToken({}, { headers: basic(shared.id, shared.secret) }).catch((error: unknown) => ConnectError.from(error));
    expect((refused as ConnectError).code).toBe(Code.Unauthenticated);
  });

  describe.each(Object.keys(transports) as TransportName[])("RPCs over %s", (transport) => {
    it("pick the tenant by path prefix or by the tokensmith-tenant header; both, differing: InvalidArgument", async () => {
      const byPath = createClient(TokenService, transports[transport](`${base}/t/acme`));
      const plain = createClient(TokenService, transports[transport](base));
      const viaPath = (await byPath.issueClientToken({}, { headers: basic(shared.id, shared.secret) })).accessToken;
      const viaHeader = (await plain.issueClientToken({}, { headers: { ...basic(shared.id, shared.secret), "tokensmith-tenant": "globex" } })).accessToken;
      expect(decodeJwt(viaPath).payload.iss).toBe(`${base}/t/acme`);
      expect(decodeJwt(viaHeader).payload.iss).toBe(`${base}/t/globex`);
      const both = await byPath
        .issueClientToken({}, { headers: { ...basic(shared.id, shared.secret), "tokensmith-tenant": "globex" } })
        .catch((error: unknown) => ConnectError.from(error));
      expect((both as ConnectError).code).toBe(Code.InvalidArgument);
      expect((await byPath.introspect({ token: viaHeader }, { headers: basic(shared.id, shared.secret) })).active).toBe(false);
      expect((await byPath.introspect({ token: viaPath }, { headers: basic(shared.id, shared.secret) })).active).toBe(true);
    });
  });

  it("a tenant's admin manages its own tenant only", async () => {
    const adminToken = (await tokenAt("/t/acme", tenantAdmin)).body.access_token!;
    const acmeAdmin = createClient(AdminService, transports["grpc (HTTP/2)"](`${base}/t/acme`));
    const mainAdmin = createClient(AdminService, transports["grpc (HTTP/2)"](base));
    const headers = { authorization: `Bearer ${adminToken}` };
    const { clientSecret } = await acmeAdmin.createClient({ id: "acme-made", scopes: ["orders:read"] }, { headers });
    expect((await tokenAt("/t/acme", { ...shared, id: "acme-made", secret: clientSecret })).status).toBe(200);
    expect((await tokenAt("", { ...shared, id: "acme-made", secret: clientSecret })).status).toBe(401);
    expect((await tokenAt("/t/globex", { ...shared, id: "acme-made", secret: clientSecret })).status).toBe(401);
    const refused = await mainAdmin.listClients({}, { headers }).catch((error: unknown) => ConnectError.from(error));
    expect((refused as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("WatchRevocations is per tenant: a revocation in one tenant reaches only its watchers", async () => {
    const acmeToken = (await tokenAt("/t/acme")).body.access_token!;
    const globexToken = (await tokenAt("/t/globex")).body.access_token!;
    const watchOf = (tenant: string) => createClient(TokenService, transports["grpc (HTTP/2)"](`${base}/t/${tenant}`));
    for (const [tenant, token] of [["acme", acmeToken], ["globex", globexToken]] as const) {
      await watchOf(tenant).revoke({ token }, { headers: basic(shared.id, shared.secret) });
    }
    const snapshotOf = async (tenant: string) => {
      const controller = new AbortController();
      try {
        for await (const { message } of watchOf(tenant).watchRevocations({}, { headers: basic(shared.id, shared.secret), signal: controller.signal })) {
          if (message.case === "snapshot") return message.value.revokedTokens.map((revoked) => revoked.jti);
        }
        return [];
      } finally {
        controller.abort();
      }
    };
    const acmeJti = decodeJwt(acmeToken).payload.jti;
    const globexJti = decodeJwt(globexToken).payload.jti;
    const [acmeRevoked, globexRevoked] = [await snapshotOf("acme"), await snapshotOf("globex")];
    expect(acmeRevoked).toContain(acmeJti);
    expect(acmeRevoked).not.toContain(globexJti);
    expect(globexRevoked).toContain(globexJti);
    expect(globexRevoked).not.toContain(acmeJti);
  });
});

describe.each(BACKENDS)("tenants dropped from an instance's cache on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startWithTenants(backend, { tenantCacheSize: 1 });
    base = server.url.replace(/\/$/, "");
  });
  afterAll(async () => {
    await server?.close();
    await backend.stop();
  });

  it("keep their signing keys: a tenant loaded again (after others pushed it out) still accepts the tokens it issued", async () => {
    const rpcOf = (tenant: string) => createClient(TokenService, transports["grpc (HTTP/2)"](`${base}/t/${tenant}`));
    const { accessToken } = await rpcOf("acme").issueClientToken({}, { headers: basic(shared.id, shared.secret) });
    // One tenant fits: using globex drops acme.
    await rpcOf("globex").issueClientToken({}, { headers: basic(shared.id, shared.secret) });
    expect(server.domain.tenants.peek("acme")).toBeUndefined();
    expect((await rpcOf("acme").introspect({ token: accessToken }, { headers: basic(shared.id, shared.secret) })).active).toBe(true);
  });

  it("stay loaded past the cache's size while a WatchRevocations stream follows them (kept current, not ended), and go on a later load once it is gone", async () => {
    const rpcOf = (tenant: string) => createClient(TokenService, transports["grpc (HTTP/2)"](`${base}/t/${tenant}`));
    const headers = basic(shared.id, shared.secret);
    const { accessToken } = await rpcOf("acme").issueClientToken({}, { headers });
    const controller = new AbortController();
    const received: string[] = [];
    let snapshotReceived: () => void = () => undefined;
    const snapshot = new Promise<void>((resolve) => (snapshotReceived = resolve));
    let eventReceived: () => void = () => undefined;
    const event = new Promise<void>((resolve) => (eventReceived = resolve));
    const stream = (async () => {
      for await (const { message } of rpcOf("acme").watchRevocations({}, { headers, signal: controller.signal })) {
        received.push(message.case ?? "");
        if (message.case === "snapshot") snapshotReceived();
        if (message.case === "event") eventReceived();
      }
      return "ended without an error";
    })().catch((error: unknown) => (controller.signal.aborted ? "open until the test closed it" : `ended: ${String(error)}`));
    const within = <T>(promise: Promise<T>, ms: number) =>
      Promise.race([promise, new Promise<string>((resolve) => setTimeout(() => resolve(`nothing within ${ms} ms`), ms).unref())]);
    try {
      await snapshot;
      // One tenant fits, but a watched one is not pushed out: its watchers would reconnect in turn, each pushing out another.
      await rpcOf("globex").issueClientToken({}, { headers });
      expect(server.domain.tenants.peek("acme")).toBeDefined();
      expect(server.domain.tenants.peek("globex")).toBeDefined();
      expect(await within(stream, 300)).toBe("nothing within 300 ms");
      // Kept current: a revocation in acme reaches its watcher.
      await rpcOf("acme").revoke({ token: accessToken }, { headers });
      expect(await within(event, 5_000)).toBeUndefined();
    } finally {
      controller.abort();
    }
    expect(await stream).toBe("open until the test closed it");
    expect(received.slice(0, 2)).toEqual(["snapshot", "event"]);
    await vi.waitFor(() => expect(server.domain.tenants.peek("acme")?.revocationWatch.watching).toBe(false), { timeout: 5_000, interval: 20 });
    // Unwatched, acme goes when the next tenant loads.
    await rpcOf("initech").issueClientToken({}, { headers });
    expect(server.domain.tenants.peek("initech")).toBeDefined();
    expect(server.domain.tenants.peek("acme")).toBeUndefined();
    expect(server.domain.tenants.loadedCount).toBe(1);
  });
});
