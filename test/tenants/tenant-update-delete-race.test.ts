import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { parseConfig } from "../../src/config.js";
import { systemClock } from "../../src/domain/clock.js";
import { TENANTS_KEY, type StoredTenant } from "../../src/domain/tenant-registry.js";
import type { RunningServer } from "../../src/server.js";
import { createStore } from "../../src/store/create-store.js";
import type { Store } from "../../src/store/store.js";
import { BACKENDS, bearer } from "../support/admin.js";
import { callHolder, interceptedStore } from "../support/intercepted-store.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * UpdateTenant and DeleteTenant on the same tenant at once: each writes the
 * stored record back only if it is still the one it read, and reads again
 * otherwise. An update that read the record before the deletion marked it
 * must not write it back unmarked (the tenant would load again while its
 * data is being removed, its id looking live); a deletion that read it
 * before an update keeps the update's changes. The store holds one write of
 * the tenants' hash, so the calls interleave exactly so.
 */

const platform = testClient("platform", ["tokensmith:tenants"]);

/** Writes of the tenants' hash; reads pass. */
const TENANT_WRITES = new Set(["hashSet", "hashCompareAndSet", "hashDelete"]);

describe.each(BACKENDS)("UpdateTenant racing DeleteTenant on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let inner: Store;
  let server: RunningServer;
  const tenantWrites = callHolder((operation, args) => TENANT_WRITES.has(operation) && args[0] === TENANTS_KEY);
  /** Run before every compare-and-set of the tenants' hash, while set. */
  let beforeEachCompareAndSet: ((args: unknown[]) => Promise<void>) | undefined;

  beforeAll(async () => {
    await backend.start();
    const { config, store: memory } = backend.serverOptions();
    // The deletions' second sweep (and the record's removal) comes only long after each test has looked at the record.
    const serverConfig = { ...config, feedPollMs: 1_000 };
    inner = memory ?? createStore(parseConfig(serverConfig).store, systemClock);
    const store = interceptedStore(inner, (operation, args, proceed) =>
      tenantWrites.intercept(operation, args, async () => {
        if (operation === "hashCompareAndSet" && args[0] === TENANTS_KEY) await beforeEachCompareAndSet?.(args);
        return proceed();
      }),
    );
    server = await startTestServer({ store, clients: [platform], config: serverConfig });
  });
  afterAll(async () => {
    await server?.close();
    if (backend.name !== "memory") await inner?.close();
    await backend.stop();
  });

  const transport = () => createGrpcTransport({ baseUrl: server.url });
  const admin = () => createClient(AdminService, transport());
  const asPlatform = async () => ({
    headers: bearer((await createClient(TokenService, transport()).issueClientToken({ scopes: ["tokensmith:tenants"] }, { headers: basic(platform.id, platform.secret) })).accessToken),
  });
  const rename = (id: string, displayName: string, headers: { headers: Record<string, string> }) =>
    admin().updateTenant({ tenant: { id, displayName }, updateMask: { paths: ["display_name"] } }, headers);

  it("an update that read the tenant before DeleteTenant marked it does not unmark it: it answers FailedPrecondition (being deleted)", async () => {
    const headers = await asPlatform();
    await admin().createTenant({ id: "update-late", displayName: "before" }, headers);
    const held = tenantWrites.holdNext();
    const update = rename("update-late", "after", headers);
    await held.reached;
    await admin().deleteTenant({ id: "update-late" }, headers);
    held.release();
    await Promise.allSettled([update]);
    const tenant = (await admin().getTenant({ id: "update-late" }, headers)).tenant!;
    expect(tenant.deleteTime).toBeDefined();
    expect(tenant.displayName).toBe("before");
    await expectRpcError(update, Code.FailedPrecondition, "invalid_request", /is being deleted/);
  });

  it("a deletion that read the tenant before an update keeps the update's changes and marks it deleted", async () => {
    const headers = await asPlatform();
    await admin().createTenant({ id: "delete-late", displayName: "before" }, headers);
    const held = tenantWrites.holdNext();
    const deletion = admin().deleteTenant({ id: "delete-late" }, headers);
    await held.reached;
    expect((await rename("delete-late", "after", headers)).tenant!.displayName).toBe("after");
    held.release();
    await deletion;
    const tenant = (await admin().getTenant({ id: "delete-late" }, headers)).tenant!;
    expect(tenant.deleteTime).toBeDefined();
    expect(tenant.displayName).toBe("after");
  });

  it("an update that keeps losing to other writers gives up after a few tries: Unavailable, and the record is as the last writer left it", async () => {
    const headers = await asPlatform();
    await admin().createTenant({ id: "contended", displayName: "before" }, headers);
    let others = 0;
    // Another writer changes the record between every read of this update and its write.
    beforeEachCompareAndSet = async ([, id]) => {
      others += 1;
      const record = JSON.parse((await inner.hashGet(TENANTS_KEY, id as string))!) as StoredTenant;
      await inner.hashSet(TENANTS_KEY, id as string, JSON.stringify({ ...record, displayName: `other writer ${others}` }));
    };
    try {
      await expectRpcError(rename("contended", "mine", headers), Code.Unavailable, "temporarily_unavailable", /changed by another call.*try again/);
    } finally {
      beforeEachCompareAndSet = undefined;
    }
    expect(others).toBe(5);
    expect((await admin().getTenant({ id: "contended" }, headers)).tenant!.displayName).toBe("other writer 5");
    expect((await rename("contended", "mine", headers)).tenant!.displayName).toBe("mine");
  });
});
