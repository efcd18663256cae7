import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { parseConfig } from "../../src/config.js";
import type { StoredClient } from "../../src/domain/client-registry.js";
import { systemClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import { createStore } from "../../src/store/create-store.js";
import { storeKeys, type Store } from "../../src/store/store.js";
import { ADMIN_SCOPE, BACKENDS, apiKeyAuthorization, bearer } from "../support/admin.js";
import { callHolder, interceptedStore } from "../support/intercepted-store.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";

/**
 * Administrative read-modify-writes of a stored client or API key racing
 * another call on it: each writes the record back only if it is still the
 * one it read, and reads again otherwise. An update or rotation that read
 * the record before DeleteClient / DeleteApiKey removed it must not write it
 * back (the deleted credential would work again: an administrator deleting
 * a compromised client would see it revived); two updates of different
 * fields both stay. The store holds one write of the clients' (or API keys')
 * hash, so the calls interleave exactly so.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);

/** Writes of a hash; reads pass. */
const HASH_WRITES = new Set(["hashSet", "hashCompareAndSet", "hashDelete"]);
const RECORD_HASHES = new Set([storeKeys.clients(), storeKeys.apiKeys()]);

describe.each(BACKENDS)("client and API key changes racing on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let inner: Store;
  let server: RunningServer;
  const holder = callHolder((operation, args) => HASH_WRITES.has(operation) && RECORD_HASHES.has(args[0] as string));
  /** Run before every compare-and-set of the clients' hash, while set. */
  let beforeEachClientCompareAndSet: ((args: unknown[]) => Promise<void>) | undefined;

  beforeAll(async () => {
    await backend.start();
    const { config, store: memory } = backend.serverOptions();
    inner = memory ?? createStore(parseConfig(config).store, systemClock);
    const store = interceptedStore(inner, async (operation, args, proceed) => {
      if (operation === "hashCompareAndSet" && args[0] === storeKeys.clients()) await beforeEachClientCompareAndSet?.(args);
      return holder.intercept(operation, args, proceed);
    });
    server = await startTestServer({ store, clients: [admin], config });
  });
  afterAll(async () => {
    await server?.close();
    if (backend.name !== "memory") await inner?.close();
    await backend.stop();
  });

  const transport = () => createGrpcTransport({ baseUrl: server.url });
  const tokens = () => tokenClient(transport());
  const asAdmin = async () => ({
    headers: bearer((await tokens().issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: basic(admin.id, admin.secret) })).accessToken),
  });
  const adminService = () => createClient(AdminService, transport());
  const tokenFor = (id: string, secret: string) => tokens().issueClientToken({}, { headers: basic(id, secret) });
  const issueGrant = (key: string) => tokens().issueGrant({ username: "alice", grants: ["passkey:read"] }, { headers: apiKeyAuthorization(key) });

  /** Starts `racing`, runs `meanwhile` while its write of a client or API key is held, then lets it write; resolves once `racing` ended, with its call. */
  async function interleave<T>(racing: () => Promise<T>, meanwhile: () => Promise<unknown>): Promise<{ call: Promise<T> }> {
    const held = holder.holdNext();
    const call = racing();
    call.catch(() => {});
    await held.reached;
    try {
      await meanwhile();
    } finally {
      held.release();
    }
    await Promise.allSettled([call]);
    return { call };
  }

  it.each<[string, string, (id: string, headers: { headers: Record<string, string> }) => Promise<unknown>]>([
    ["UpdateClient", "update-deleted", (id, headers) => adminService().updateClient({ client: { id, scopes: ["b:read"] }, updateMask: { paths: ["scopes"] } }, headers)],
    ["RotateClientSecret", "rotate-deleted", (id, headers) => adminService().rotateClientSecret({ id, overlapSeconds: 300n }, headers)],
  ])("%s that read the client before DeleteClient removed it does not revive it: NotFound, and its secret gets no token", async (_method, id, change) => {
    const headers = await asAdmin();
    const { clientSecret } = await adminService().createClient({ id, scopes: ["a:read"] }, headers);
    const { call } = await interleave(
      () => change(id, headers),
      () => adminService().deleteClient({ id }, headers),
    );
    await expectRpcError(adminService().getClient({ id }, headers), Code.NotFound, "invalid_request");
    await expectRpcError(tokenFor(id, clientSecret), Code.Unauthenticated, "invalid_client");
    expect(await inner.hashGet(storeKeys.clients(), id)).toBeNull();
    await expectRpcError(call, Code.NotFound, "invalid_request", `client "${id}" not found`);
  });

  it("UpdateApiKey that read the key before DeleteApiKey removed it does not revive it: NotFound, and the key issues no grant", async () => {
    const headers = await asAdmin();
    const { key } = await adminService().createApiKey({ name: "update-deleted-key", scopes: ["passkey:read"] }, headers);
    const { call: update } = await interleave(
      () => adminService().updateApiKey({ apiKey: { name: "update-deleted-key", grantLifetimeSeconds: 90n }, updateMask: { paths: ["grant_lifetime_seconds"] } }, headers),
      () => adminService().deleteApiKey({ name: "update-deleted-key" }, headers),
    );
    await expectRpcError(issueGrant(key), Code.Unauthenticated, "invalid_client");
    expect((await adminService().listApiKeys({}, headers)).apiKeys.map((apiKey) => apiKey.name)).not.toContain("update-deleted-key");
    await expectRpcError(update, Code.NotFound, "invalid_request", /API key "update-deleted-key" not found/);
  });

  it("two UpdateClient calls changing different fields at once: both changes stay", async () => {
    const headers = await asAdmin();
    await adminService().createClient({ id: "updated-twice", scopes: ["a:read"], audiences: ["https://a"] }, headers);
    const { call: first } = await interleave(
      () => adminService().updateClient({ client: { id: "updated-twice", scopes: ["b:read"] }, updateMask: { paths: ["scopes"] } }, headers),
      () => adminService().updateClient({ client: { id: "updated-twice", audiences: ["https://b"] }, updateMask: { paths: ["audiences"] } }, headers),
    );
    expect((await first).client).toMatchObject({ scopes: ["b:read"], audiences: ["https://b"] });
    expect((await adminService().getClient({ id: "updated-twice" }, headers)).client).toMatchObject({ scopes: ["b:read"], audiences: ["https://b"] });
  });

  it("two UpdateApiKey calls changing different fields at once: both changes stay", async () => {
    const headers = await asAdmin();
    const { key } = await adminService().createApiKey({ name: "key-updated-twice", scopes: ["passkey:read"] }, headers);
    const { call: first } = await interleave(
      () => adminService().updateApiKey({ apiKey: { name: "key-updated-twice", scopes: ["passkey:read", "passkey:write"] }, updateMask: { paths: ["scopes"] } }, headers),
      () => adminService().updateApiKey({ apiKey: { name: "key-updated-twice", grantLifetimeSeconds: 90n }, updateMask: { paths: ["grant_lifetime_seconds"] } }, headers),
    );
    expect((await first).apiKey).toMatchObject({ scopes: ["passkey:read", "passkey:write"], grantLifetimeSeconds: 90n });
    expect(await issueGrant(key)).toMatchObject({ expiresIn: 90n });
  });

  it("an update that keeps losing to other writers gives up after a few tries: Unavailable, and the client is as the last writer left it", async () => {
    const headers = await asAdmin();
    await adminService().createClient({ id: "contended", scopes: ["a:read"] }, headers);
    let others = 0;
    // Another writer changes the record between every read of this update and its write.
    beforeEachClientCompareAndSet = async ([, id]) => {
      others += 1;
      const record = JSON.parse((await inner.hashGet(storeKeys.clients(), id as string))!) as StoredClient;
      await inner.hashSet(storeKeys.clients(), id as string, JSON.stringify({ ...record, audiences: [`https://other-writer-${others}`] }));
    };
    const update = () => adminService().updateClient({ client: { id: "contended", scopes: ["mine:read"] }, updateMask: { paths: ["scopes"] } }, headers);
    try {
      await expectRpcError(update(), Code.Unavailable, "temporarily_unavailable", /changed by another call.*try again/);
    } finally {
      beforeEachClientCompareAndSet = undefined;
    }
    expect(others).toBe(5);
    // Read from the store: the other writer announced nothing, so this instance may still cache what it read last.
    expect(JSON.parse((await inner.hashGet(storeKeys.clients(), "contended"))!)).toMatchObject({ scopes: ["a:read"], audiences: ["https://other-writer-5"] });
    expect((await update()).client).toMatchObject({ scopes: ["mine:read"], audiences: ["https://other-writer-5"] });
  });
});
