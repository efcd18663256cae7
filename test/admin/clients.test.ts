import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Source, type CreateClientRequest } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { generateSecret, hasValidChecksum } from "../../src/domain/secret-format.js";
import { ADMIN_SCOPE, BACKENDS, bearer, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient } from "../support/tokensmith.js";

/** AdminService: clients. Created ones live in the store; config-declared ones are listed but read-only. */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect"]);
const configClient = testClient("config-orders", ["orders:read"]);
const publicJwks = JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] });

describe.each(BACKENDS)("AdminService clients on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, clients: [resourceServer, configClient] });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const tokenFor = (id: string, secret: string, request: { scopes?: string[]; audience?: string[] } = {}) =>
    t.tokens.issueClientToken(request, { headers: basic(id, secret) });
  const introspect = (token: string) => t.tokens.introspect({ token }, { headers: basic(resourceServer.id, resourceServer.secret) });
  const seconds = (ms: number) => ms * 1000;

  describe("CreateClient", () => {
    it("returns the secret once, and that secret gets the client tokens with its scopes, audiences and lifetime", async () => {
      const created = await t.admin.createClient({
        id: "create-orders",
        scopes: ["orders:read", "orders:write"],
        audiences: ["https://orders.example"],
        tokenLifetimeSeconds: 120n,
      });
      expect(hasValidChecksum(created.clientSecret, "client_secret")).toBe(true);
      expect(created.client).toMatchObject({
        id: "create-orders",
        scopes: ["orders:read", "orders:write"],
        audiences: ["https://orders.example"],
        tokenLifetimeSeconds: 120n,
        source: Source.STORE,
        jwksJson: "",
        jwksUri: "",
      });
      expect(timestampMs(created.client!.createTime!)).toBe(t.clock.now());
      expect(created.client!.previousSecretExpireTime).toBeUndefined();

      const issued = await tokenFor("create-orders", created.clientSecret, { scopes: ["orders:read"] });
      expect(issued).toMatchObject({ tokenType: "Bearer", expiresIn: 120n, scopes: ["orders:read"] });
      expect(decodeJwt(issued.accessToken).payload).toMatchObject({ client_id: "create-orders", aud: "https://orders.example" });
      // client_secret_post authenticates the same client.
      const posted = await t.tokens.issueClientToken({ clientId: "create-orders", clientSecret: created.clientSecret });
      expect(posted.scopes).toEqual(["orders:read", "orders:write"]);
    });

    it("defaults: a generated id, no scopes, the server's default lifetime", async () => {
      const created = await t.admin.createClient({});
      expect(created.client!.id).toMatch(/^client-[a-z0-9]{12}$/);
      expect(created.client).toMatchObject({ scopes: [], audiences: [], tokenLifetimeSeconds: 300n });
      const issued = await tokenFor(created.client!.id, created.clientSecret);
      expect(issued).toMatchObject({ scopes: [], expiresIn: 300n });
    });

    it("a client with inline JWKS (private_key_jwt) is created with its public keys", async () => {
      const created = await t.admin.createClient({ id: "create-jwks", jwksJson: publicJwks });
      expect(JSON.parse(created.client!.jwksJson)).toEqual(JSON.parse(publicJwks));
    });

    it.each([
      ["a client created through the API", "create-dup"],
      ["a client declared in the config file", configClient.id],
    ])("an id already taken by %s: AlreadyExists", async (_case, id) => {
      if (id === "create-dup") await t.admin.createClient({ id, scopes: ["a:b"] });
      await expectRpcError(t.admin.createClient({ id, scopes: ["c:d"] }), Code.AlreadyExists, "invalid_request", `client "${id}" already exists`);
    });

    it.each<[string, Partial<Omit<CreateClientRequest, "$typeName" | "$unknown">>, string, RegExp]>([
      ["an id with a space", { id: "bad id" }, "invalid_request", /client id must be/],
      ["an id of 129 characters", { id: "x".repeat(129) }, "invalid_request", /client id must be/],
      ["an id with a slash", { id: "a/b" }, "invalid_request", /client id must be/],
      ["a scope with a space", { id: "bad-scope-1", scopes: ["orders read"] }, "invalid_scope", /malformed scope/],
      ["a scope with a quote", { id: "bad-scope-2", scopes: ['orders"read'] }, "invalid_scope", /malformed scope/],
      ["a negative lifetime", { id: "bad-lifetime-1", tokenLifetimeSeconds: -1n }, "invalid_request", /token_lifetime_seconds must be between 1 and 600/],
      ["a lifetime above maxTokenLifetimeSeconds", { id: "bad-lifetime-2", tokenLifetimeSeconds: 601n }, "invalid_request", /between 1 and 600/],
      ["an empty audience", { id: "bad-aud", audiences: [""] }, "invalid_request", /audiences/],
      ["jwks_json that is not JSON", { id: "bad-jwks-1", jwksJson: "{keys:" }, "invalid_request", /not valid JSON/],
      ["jwks_json with no keys", { id: "bad-jwks-2", jwksJson: '{"keys":[]}' }, "invalid_request", /1-20 keys/],
      ["jwks_json with a key without kty", { id: "bad-jwks-3", jwksJson: '{"keys":[{"x":"abc"}]}' }, "invalid_request", /kty/],
      [
        "jwks_json holding a private key",
        { id: "bad-jwks-4", jwksJson: JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", x: "abc", d: "secret" }] }) },
        "invalid_request",
        /public keys only/,
      ],
      ["a jwks_uri that is not http(s)", { id: "bad-jwks-5", jwksUri: "ftp://keys.example/jwks.json" }, "invalid_request", /jwks_uri/],
      // Issue 16: the server fetches a jwks_uri on unauthenticated requests, so only https to public addresses by default.
      ["a jwks_uri over http", { id: "bad-jwks-7", jwksUri: "http://keys.example/jwks.json" }, "invalid_request", /jwks_uri must be an https URL/],
      ["a jwks_uri on a loopback address", { id: "bad-jwks-8", jwksUri: "https://127.0.0.1:8443/jwks.json" }, "invalid_request", /internal address/],
      ["a jwks_uri on a cloud metadata address", { id: "bad-jwks-9", jwksUri: "https://169.254.169.254/jwks.json" }, "invalid_request", /internal address/],
      ["a jwks_uri on an IPv4-mapped private address", { id: "bad-jwks-10", jwksUri: "https://[::ffff:10.0.0.1]/jwks.json" }, "invalid_request", /internal address/],
      ["a jwks_uri on a unique-local IPv6 address", { id: "bad-jwks-11", jwksUri: "https://[fd12::1]/jwks.json" }, "invalid_request", /internal address/],
      ["a jwks_uri with credentials", { id: "bad-jwks-12", jwksUri: "https://user:pw@keys.example/jwks.json" }, "invalid_request", /credentials/],
      ["both jwks_json and jwks_uri", { id: "bad-jwks-6", jwksJson: publicJwks, jwksUri: "https://keys.example/jwks.json" }, "invalid_request", /not both/],
    ])("%s: InvalidArgument, and nothing is stored", async (_case, request, oauthError, message) => {
      await expectRpcError(t.admin.createClient(request), Code.InvalidArgument, oauthError, message);
      if (request.id && /^[\w.:-]{1,128}$/.test(request.id)) {
        await expectRpcError(t.admin.getClient({ id: request.id }), Code.NotFound, "invalid_request");
      }
    });
  });

  describe("GetClient", () => {
    it("returns a created client without any secret", async () => {
      await t.admin.createClient({ id: "get-me", scopes: ["a:read"], jwksUri: "https://keys.example/jwks.json" });
      const { client } = await t.admin.getClient({ id: "get-me" });
      expect(client).toMatchObject({ id: "get-me", scopes: ["a:read"], jwksUri: "https://keys.example/jwks.json", source: Source.STORE });
    });

    it("returns a config-declared client with source CONFIG", async () => {
      const { client } = await t.admin.getClient({ id: configClient.id });
      expect(client).toMatchObject({ id: configClient.id, scopes: ["orders:read"], source: Source.CONFIG });
      expect(client!.createTime).toBeUndefined();
    });

    it("an unknown id: NotFound", async () => {
      await expectRpcError(t.admin.getClient({ id: "nobody" }), Code.NotFound, "invalid_request", 'client "nobody" not found');
    });
  });

  describe("UpdateClient", () => {
    it("scopes: the client can get what was added and no longer what was removed, at once on this instance", async () => {
      const { clientSecret } = await t.admin.createClient({ id: "update-scopes", scopes: ["orders:read"] });
      await expectRpcError(tokenFor("update-scopes", clientSecret, { scopes: ["orders:write"] }), Code.PermissionDenied, "invalid_scope");

      const { client } = await t.admin.updateClient({
        client: { id: "update-scopes", scopes: ["orders:write", "orders:admin"] },
        updateMask: { paths: ["scopes"] },
      });
      expect(client!.scopes).toEqual(["orders:write", "orders:admin"]);
      expect((await tokenFor("update-scopes", clientSecret, { scopes: ["orders:write"] })).scopes).toEqual(["orders:write"]);
      expect((await tokenFor("update-scopes", clientSecret)).scopes).toEqual(["orders:write", "orders:admin"]);
      await expectRpcError(tokenFor("update-scopes", clientSecret, { scopes: ["orders:read"] }), Code.PermissionDenied, "invalid_scope");
    });

    it("replaces only the fields named in update_mask", async () => {
      await t.admin.createClient({ id: "update-mask", scopes: ["a:read"], audiences: ["https://a"], tokenLifetimeSeconds: 100n });
      const { client } = await t.admin.updateClient({
        client: { id: "update-mask", scopes: [], audiences: ["https://b", "https://c"], tokenLifetimeSeconds: 200n },
        updateMask: { paths: ["audiences", "token_lifetime_seconds"] },
      });
      expect(client).toMatchObject({ scopes: ["a:read"], audiences: ["https://b", "https://c"], tokenLifetimeSeconds: 200n });
      expect((await t.admin.getClient({ id: "update-mask" })).client).toMatchObject({ scopes: ["a:read"], tokenLifetimeSeconds: 200n });
    });

    it("token_lifetime_seconds 0 restores the server default; jwks_json can be set and cleared", async () => {
      await t.admin.createClient({ id: "update-jwks", tokenLifetimeSeconds: 100n });
      const withKeys = await t.admin.updateClient({
        client: { id: "update-jwks", tokenLifetimeSeconds: 0n, jwksJson: publicJwks },
        updateMask: { paths: ["token_lifetime_seconds", "jwks_json"] },
      });
      expect(withKeys.client).toMatchObject({ tokenLifetimeSeconds: 300n });
      expect(JSON.parse(withKeys.client!.jwksJson)).toEqual(JSON.parse(publicJwks));
      const cleared = await t.admin.updateClient({ client: { id: "update-jwks", jwksJson: "" }, updateMask: { paths: ["jwks_json"] } });
      expect(cleared.client!.jwksJson).toBe("");
    });

    it("a jwks_uri over http or on an internal address is refused on update too, and the stored one is kept", async () => {
      await t.admin.createClient({ id: "update-jwks-uri", jwksUri: "https://keys.example/jwks.json" });
      for (const jwksUri of ["http://keys.example/jwks.json", "https://10.1.2.3/jwks.json"]) {
        const update = t.admin.updateClient({ client: { id: "update-jwks-uri", jwksUri }, updateMask: { paths: ["jwks_uri"] } });
        await expectRpcError(update, Code.InvalidArgument, "invalid_request", /jwks_uri/);
      }
      expect((await t.admin.getClient({ id: "update-jwks-uri" })).client!.jwksUri).toBe("https://keys.example/jwks.json");
    });

    it.each<[string, { id: string; paths: string[]; lifetime?: bigint }, Code, RegExp]>([
      ["an empty update_mask", { id: "update-bad", paths: [] }, Code.InvalidArgument, /at least one field/],
      ["a path that cannot be updated", { id: "update-bad", paths: ["id"] }, Code.InvalidArgument, /cannot be updated: id/],
      ["a lifetime above the maximum", { id: "update-bad", paths: ["token_lifetime_seconds"], lifetime: 601n }, Code.InvalidArgument, /between 1 and 600/],
      ["an unknown client", { id: "nobody", paths: ["scopes"] }, Code.NotFound, /not found/],
    ])("%s: refused", async (_case, { id, paths, lifetime }, code, message) => {
      await t.admin.createClient({ id: "update-bad" }).catch(() => undefined);
      await expectRpcError(
        t.admin.updateClient({ client: { id, tokenLifetimeSeconds: lifetime ?? 0n }, updateMask: { paths } }),
        code,
        "invalid_request",
        message,
      );
    });
  });

  describe("RotateClientSecret", () => {
    it("the new secret works at once; the old one works within the overlap window and stops after it", async () => {
      const { clientSecret: oldSecret } = await t.admin.createClient({ id: "rotate-me", scopes: ["a:read"] });
      const rotated = await t.admin.rotateClientSecret({ id: "rotate-me", overlapSeconds: 120n });
      const newSecret = rotated.clientSecret;
      expect(hasValidChecksum(newSecret, "client_secret")).toBe(true);
      expect(newSecret).not.toBe(oldSecret);
      expect(timestampMs(rotated.client!.previousSecretExpireTime!)).toBe(t.clock.now() + seconds(120));

      await tokenFor("rotate-me", newSecret);
      await tokenFor("rotate-me", oldSecret);
      t.clock.advance(seconds(119));
      await tokenFor("rotate-me", oldSecret);
      expect((await t.admin.getClient({ id: "rotate-me" })).client!.previousSecretExpireTime).toBeDefined();

      t.clock.advance(seconds(1));
      await expectRpcError(tokenFor("rotate-me", oldSecret), Code.Unauthenticated, "invalid_client");
      await tokenFor("rotate-me", newSecret);
      expect((await t.admin.getClient({ id: "rotate-me" })).client!.previousSecretExpireTime).toBeUndefined();
    });

    it("without overlap_seconds, the old secret works for the server's secretOverlapSeconds", async () => {
      const { clientSecret: oldSecret } = await t.admin.createClient({ id: "rotate-default" });
      const rotated = await t.admin.rotateClientSecret({ id: "rotate-default" });
      expect(timestampMs(rotated.client!.previousSecretExpireTime!)).toBe(t.clock.now() + seconds(300));
      t.clock.advance(seconds(299));
      await tokenFor("rotate-default", oldSecret);
      t.clock.advance(seconds(1));
      await expectRpcError(tokenFor("rotate-default", oldSecret), Code.Unauthenticated, "invalid_client");
    });

    it("rotating again does not extend the first secret's window", async () => {
      const { clientSecret: first } = await t.admin.createClient({ id: "rotate-twice" });
      const { clientSecret: second } = await t.admin.rotateClientSecret({ id: "rotate-twice", overlapSeconds: 60n });
      t.clock.advance(seconds(30));
      const { clientSecret: third } = await t.admin.rotateClientSecret({ id: "rotate-twice", overlapSeconds: 600n });
      t.clock.advance(seconds(30));
      await expectRpcError(tokenFor("rotate-twice", first), Code.Unauthenticated, "invalid_client");
      await tokenFor("rotate-twice", second);
      await tokenFor("rotate-twice", third);
    });

    it.each<[string, { id: string; overlapSeconds?: bigint }, Code]>([
      ["an unknown client", { id: "nobody" }, Code.NotFound],
      ["a negative overlap", { id: "rotate-me", overlapSeconds: -1n }, Code.InvalidArgument],
      ["an overlap above 30 days", { id: "rotate-me", overlapSeconds: BigInt(30 * 86_400 + 1) }, Code.InvalidArgument],
    ])("%s: refused", async (_case, request, code) => {
      await expectRpcError(t.admin.rotateClientSecret(request), code, "invalid_request");
    });
  });

  describe("DeleteClient", () => {
    it("its tokens stop introspecting active, it gets no more tokens, and recreating the id revives nothing", async () => {
      const { clientSecret } = await t.admin.createClient({ id: "delete-me", scopes: ["a:read"] });
      const { accessToken } = await tokenFor("delete-me", clientSecret);
      expect((await introspect(accessToken)).active).toBe(true);

      await t.admin.deleteClient({ id: "delete-me" });
      expect((await introspect(accessToken)).active).toBe(false);
      await expectRpcError(tokenFor("delete-me", clientSecret), Code.Unauthenticated, "invalid_client");
      await expectRpcError(t.admin.getClient({ id: "delete-me" }), Code.NotFound, "invalid_request");
      await expectRpcError(t.admin.deleteClient({ id: "delete-me" }), Code.NotFound, "invalid_request");

      t.clock.advance(seconds(1));
      const recreated = await t.admin.createClient({ id: "delete-me", scopes: ["a:read"] });
      expect((await introspect(accessToken)).active).toBe(false);
      await expectRpcError(tokenFor("delete-me", clientSecret), Code.Unauthenticated, "invalid_client");
      const fresh = await tokenFor("delete-me", recreated.clientSecret);
      expect((await introspect(fresh.accessToken)).active).toBe(true);
    });

    // Introspection compares the new client's createdAt, truncated to seconds, with the old token's iat:
    // a client recreated within the same second as the old token was issued inherits it.
    it("recreating the id within the same second as the old token was issued revives nothing", async () => {
      const { clientSecret } = await t.admin.createClient({ id: "delete-same-second" });
      const { accessToken } = await tokenFor("delete-same-second", clientSecret);
      await t.admin.deleteClient({ id: "delete-same-second" });
      t.clock.advance(900);
      await t.admin.createClient({ id: "delete-same-second" });
      expect((await introspect(accessToken)).active).toBe(false);
    });

    it("a deleted client's admin token no longer administers", async () => {
      const { clientSecret } = await t.admin.createClient({ id: "delete-admin", scopes: [ADMIN_SCOPE] });
      const { accessToken } = await tokenFor("delete-admin", clientSecret);
      await t.rawAdmin.listClients({}, { headers: bearer(accessToken) });
      await t.admin.deleteClient({ id: "delete-admin" });
      expect((await introspect(accessToken)).active).toBe(false);
      await expectRpcError(t.rawAdmin.listClients({}, { headers: bearer(accessToken) }), Code.Unauthenticated, "invalid_client");
    });
  });

  describe("config-declared clients are read-only", () => {
    it.each([
      ["UpdateClient", () => t.admin.updateClient({ client: { id: configClient.id, scopes: [] }, updateMask: { paths: ["scopes"] } })],
      ["RotateClientSecret", () => t.admin.rotateClientSecret({ id: configClient.id })],
      ["DeleteClient", () => t.admin.deleteClient({ id: configClient.id })],
    ])("%s: FailedPrecondition, and the client keeps working", async (_name, call) => {
      await expectRpcError(call(), Code.FailedPrecondition, "invalid_request", /declared in the config file and is read-only/);
      expect((await tokenFor(configClient.id, configClient.secret)).scopes).toEqual(["orders:read"]);
    });
  });

  it("a wrong secret for a created client: Unauthenticated (the secret is not guessable from the id)", async () => {
    await t.admin.createClient({ id: "wrong-secret" });
    await expectRpcError(tokenFor("wrong-secret", generateSecret("client_secret")), Code.Unauthenticated, "invalid_client");
  });
});

describe.each(BACKENDS)("AdminService ListClients on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin });
    // Created out of order: the list is ordered by id, not by creation.
    for (const id of ["list-e", "list-b", "list-g", "list-a", "list-f", "list-c", "list-d"]) await t.admin.createClient({ id });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  it("pages of page_size, in a stable order by id, with an empty next_page_token on the last page", async () => {
    const pages: string[][] = [];
    let pageToken = "";
    do {
      const page = await t.admin.listClients({ pageSize: 3, pageToken });
      pages.push(page.clients.map((client) => client.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && pages.length < 10);
    // The config-declared admin client is listed too (ids sort "admin" < "list-…").
    expect(pages).toEqual([
      ["admin", "list-a", "list-b"],
      ["list-c", "list-d", "list-e"],
      ["list-f", "list-g"],
    ]);
  });

  it("the same page token gives the same page again", async () => {
    const first = await t.admin.listClients({ pageSize: 3 });
    const again = await t.admin.listClients({ pageSize: 3, pageToken: first.nextPageToken });
    const twice = await t.admin.listClients({ pageSize: 3, pageToken: first.nextPageToken });
    expect(again.clients.map((client) => client.id)).toEqual(twice.clients.map((client) => client.id));
    expect(again.nextPageToken).toBe(twice.nextPageToken);
  });

  it("lists sources: CONFIG for the config file, STORE for the API", async () => {
    const { clients, nextPageToken } = await t.admin.listClients({});
    expect(nextPageToken).toBe("");
    expect(clients.map((client) => [client.id, Source[client.source]])).toEqual([
      ["admin", "CONFIG"],
      ...["a", "b", "c", "d", "e", "f", "g"].map((suffix) => [`list-${suffix}`, "STORE"]),
    ]);
  });

  it("a negative page_size: InvalidArgument", async () => {
    await expectRpcError(t.admin.listClients({ pageSize: -1 }), Code.InvalidArgument, "invalid_request", /page_size/);
  });

  // Issue 21, item 4: the console shows them next to the token lifetime field.
  it("tells the tenant's token lifetimes: the default a client gets and the longest it may have, on every page", async () => {
    const first = await t.admin.listClients({ pageSize: 1 });
    expect(first).toMatchObject({ defaultTokenLifetimeSeconds: 300n, maxTokenLifetimeSeconds: 600n });
    expect(await t.admin.listClients({ pageSize: 1, pageToken: first.nextPageToken })).toMatchObject({ defaultTokenLifetimeSeconds: 300n, maxTokenLifetimeSeconds: 600n });
  });
});
