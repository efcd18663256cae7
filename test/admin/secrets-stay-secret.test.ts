import { Writable } from "node:stream";
import { toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GetClientResponseSchema,
  ListAccessTokensResponseSchema,
  ListApiKeysResponseSchema,
  ListAuditEventsResponseSchema,
  ListClientsResponseSchema,
  RotateClientSecretResponseSchema,
  UpdateApiKeyResponseSchema,
  UpdateClientResponseSchema,
} from "../../gen/tokensmith/v1/admin_service_pb.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { storeKeys } from "../../src/store/store.js";
import { BACKENDS, ADMIN_SCOPE, apiKeyAuthorization, bearer, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { redisBackend } from "../support/backends.js";
import { basic, testClient } from "../support/tokensmith.js";

/**
 * No secret is ever returned twice or logged: client secrets and API keys
 * appear in exactly one response (create or rotate), never in reads, errors
 * or the server's log, and access tokens never reach the log either.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const resourceServer = testClient("resource-server", ["token:introspect", "grant:consume"]);

/** A pino destination that keeps every line in memory. */
function memoryLog(): { stream: Writable; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join("") };
}

describe.each(BACKENDS)("secrets on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  const log = memoryLog();
  let t: AdminTestServer;
  /** Everything that must never be shown again, logged or stored in clear. */
  const secrets: string[] = [];
  const tokens: string[] = [];
  const errors: string[] = [];

  const remember = <T extends string>(list: string[], value: T): T => {
    list.push(value);
    return value;
  };
  const failure = async (call: Promise<unknown>) => {
    try {
      await call;
    } catch (error) {
      const connectError = ConnectError.from(error);
      errors.push(`${Code[connectError.code]} ${connectError.rawMessage} ${JSON.stringify(connectError.details)}`);
      return connectError;
    }
    throw new Error("the call should have failed");
  };

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, clients: [resourceServer], logger: pino({ level: "debug" }, log.stream) });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const expectNoSecretIn = (text: string) => {
    for (const secret of secrets) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(hashSecret(secret));
      // Not even the random body without its prefix.
      expect(text).not.toContain(secret.slice(7, 40));
    }
  };

  it("a create, use, rotate, delete flow with failures on the way", async () => {
    const adminToken = remember(tokens, await t.adminToken());
    const asAdmin = { headers: bearer(adminToken) };

    // Clients: create, use, fail, rotate, read, delete.
    const created = await t.rawAdmin.createClient({ id: "flow-client", scopes: ["orders:read"] }, asAdmin);
    const firstSecret = remember(secrets, created.clientSecret);
    await failure(t.rawAdmin.createClient({ id: "flow-client" }, asAdmin));
    await failure(t.rawAdmin.createClient({ id: "bad id", scopes: ["orders read"] }, asAdmin));
    const issued = await t.tokens.issueClientToken({}, { headers: basic("flow-client", firstSecret) });
    remember(tokens, issued.accessToken);
    await failure(t.tokens.issueClientToken({ scopes: ["orders:write"] }, { headers: basic("flow-client", firstSecret) }));
    await failure(t.tokens.issueClientToken({}, { headers: basic("flow-client", remember(secrets, generateSecret("client_secret"))) }));
    // A secret sent where an id belongs must not be echoed either.
    await failure(t.tokens.issueClientToken({ clientId: firstSecret, clientSecret: firstSecret }));

    const rotated = await t.rawAdmin.rotateClientSecret({ id: "flow-client", overlapSeconds: 60n }, asAdmin);
    const secondSecret = remember(secrets, rotated.clientSecret);
    expectNoSecretIn(toJsonString(RotateClientSecretResponseSchema, rotated).replace(secondSecret, "<new secret>"));
    t.clock.advance(61_000);
    await failure(t.tokens.issueClientToken({}, { headers: basic("flow-client", firstSecret) }));
    remember(tokens, (await t.tokens.issueClientToken({}, { headers: basic("flow-client", secondSecret) })).accessToken);

    const updated = await t.rawAdmin.updateClient({ client: { id: "flow-client", scopes: ["orders:write"] }, updateMask: { paths: ["scopes"] } }, asAdmin);
    expectNoSecretIn(toJsonString(UpdateClientResponseSchema, updated));
    expectNoSecretIn(toJsonString(GetClientResponseSchema, await t.rawAdmin.getClient({ id: "flow-client" }, asAdmin)));
    expectNoSecretIn(toJsonString(ListClientsResponseSchema, await t.rawAdmin.listClients({}, asAdmin)));

    // API keys: create, use, fail, update, list, delete.
    const createdKey = await t.rawAdmin.createApiKey({ name: "flow-key", scopes: ["passkey:read"] }, asAdmin);
    const key = remember(secrets, createdKey.key);
    const grant = await t.tokens.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuthorization(key) });
    remember(tokens, grant.token);
    await failure(t.tokens.issueGrant({ username: "alice", grants: ["passkey:write"] }, { headers: apiKeyAuthorization(key) }));
    const updatedKey = await t.rawAdmin.updateApiKey({ apiKey: { name: "flow-key", grantLifetimeSeconds: 60n }, updateMask: { paths: ["grant_lifetime_seconds"] } }, asAdmin);
    expectNoSecretIn(toJsonString(UpdateApiKeyResponseSchema, updatedKey));
    expectNoSecretIn(toJsonString(ListApiKeysResponseSchema, await t.rawAdmin.listApiKeys({}, asAdmin)));
    await t.rawAdmin.deleteApiKey({ name: "flow-key" }, asAdmin);
    await failure(t.tokens.issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuthorization(key) }));

    // Tokens: introspected, revoked, then refused where they no longer work.
    const introspector = { headers: basic(resourceServer.id, resourceServer.secret) };
    await t.tokens.introspect({ token: issued.accessToken }, introspector);
    await t.tokens.introspect({ token: grant.token, consume: true }, introspector);
    await t.rawAdmin.deleteClient({ id: "flow-client" }, asAdmin);
    await failure(t.tokens.issueClientToken({}, { headers: basic("flow-client", secondSecret) }));
    const other = remember(tokens, await t.adminToken());
    await t.tokens.revoke({ token: other }, { headers: basic(admin.id, admin.secret) });
    await failure(t.rawAdmin.listClients({}, { headers: bearer(other) }));
    await failure(t.rawAdmin.listClients({}, { headers: basic("flow-client", secondSecret) }));
    await failure(t.rawAdmin.listClients({}, { headers: bearer(`${secondSecret}.${secondSecret}.${secondSecret}`) }));
    await t.rawAdmin.rotateSigningKey({}, asAdmin);

    expect(secrets).toHaveLength(4);
    expect(errors.length).toBeGreaterThanOrEqual(10);
  });

  it("a secret pasted where an id or a name belongs is refused, never stored, listed or logged", async () => {
    const asAdmin = { headers: bearer(remember(tokens, await t.adminToken())) };
    const clientSecret = remember(secrets, generateSecret("client_secret"));
    const apiKey = remember(secrets, generateSecret("api_key"));
    const grant = remember(secrets, generateSecret("grant"));
    await t.rawAdmin.createClient({ id: "named-tokens", scopes: ["reports:read"] }, asAdmin);
    for (const call of [
      t.rawAdmin.createClient({ id: clientSecret, scopes: ["orders:read"] }, asAdmin),
      t.rawAdmin.createApiKey({ name: apiKey, scopes: ["passkey:read"] }, asAdmin),
      t.rawAdmin.createAccessToken({ clientId: "named-tokens", name: grant }, asAdmin),
      t.rawAdmin.createAccessToken({ clientId: "named-tokens", name: `nightly ${clientSecret}` }, asAdmin),
    ]) {
      expect(Code[(await failure(call)).code]).toBe(Code[Code.InvalidArgument]);
    }
    expectNoSecretIn(toJsonString(ListClientsResponseSchema, await t.rawAdmin.listClients({}, asAdmin)));
    expectNoSecretIn(toJsonString(ListApiKeysResponseSchema, await t.rawAdmin.listApiKeys({}, asAdmin)));
    expectNoSecretIn(toJsonString(ListAccessTokensResponseSchema, await t.rawAdmin.listAccessTokens({}, asAdmin)));
    expectNoSecretIn(toJsonString(ListAuditEventsResponseSchema, await t.rawAdmin.listAuditEvents({ pageSize: 500 }, asAdmin)));
  });

  it("the log was captured (the test would prove nothing otherwise)", () => {
    expect(log.text()).toContain('"msg":"tokensmith listening"');
  });

  it("no secret, key, hash of either, or token is in the log", () => {
    const text = log.text();
    expectNoSecretIn(text);
    for (const token of tokens) {
      expect(text).not.toContain(token);
      // The signature alone would be enough to replay a JWT.
      expect(text).not.toContain(token.split(".").pop());
    }
  });

  it("no secret, key, or hash of either is in an error returned to a caller", () => {
    for (const error of errors) expectNoSecretIn(error);
  });
});

describe("secrets in Redis", () => {
  const backend = redisBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  it("clients and API keys are stored by hash only", async () => {
    const config = backend.serverOptions().config;
    t = await startAdminServer(backend, { admin, sharedConfig: config });
    const { clientSecret } = await t.admin.createClient({ id: "stored-client" });
    const { clientSecret: rotatedSecret } = await t.admin.rotateClientSecret({ id: "stored-client" });
    const { key } = await t.admin.createApiKey({ name: "stored-key", scopes: ["a:b"] });
    const prefix = (config.store as { keyPrefix: string }).keyPrefix;
    const clients = JSON.stringify(await backend.redis().command(["HGETALL", `${prefix}${storeKeys.clients()}`]));
    const apiKeys = JSON.stringify(await backend.redis().command(["HGETALL", `${prefix}${storeKeys.apiKeys()}`]));
    for (const secret of [clientSecret, rotatedSecret]) {
      expect(clients).not.toContain(secret);
      expect(clients).toContain(hashSecret(secret));
    }
    expect(apiKeys).not.toContain(key);
    expect(apiKeys).toContain(hashSecret(key));
  });
});
