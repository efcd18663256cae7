import { beforeEach, describe, expect, it } from "vitest";
import { authenticateApiKey } from "../../src/domain/api-key-authentication.js";
import { LayeredApiKeyRegistry, type StoredApiKey } from "../../src/domain/api-key-registry.js";
import { AuthRateLimiter } from "../../src/domain/auth-rate-limiter.js";
import { basicAuthorization } from "../../src/client/basic-authorization.js";
import { ClientAuthenticator } from "../../src/domain/client-authenticator.js";
import { LayeredClientRegistry, type StoredClient } from "../../src/domain/client-registry.js";
import { ManualClock } from "../../src/domain/clock.js";
import { OAuthError } from "../../src/domain/oauth-error.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { MemoryStore } from "../../src/store/memory.js";

/**
 * ClientAuthenticator remembers Basic headers that authenticated, and the
 * registry answers a cached client with the same object while nothing about
 * it changed. These tests hold the shortcut to the rules of the full check:
 * every change to a client (rotation, expiry of a rotated-out secret,
 * deletion, a fresh read from the store) and every refusal (wrong secret,
 * blocked peer, mismatched client_id) must look exactly as without it.
 */

const CACHE_MS = 5_000;
const PEER = "192.0.2.7";

async function expectOAuthError(promise: Promise<unknown>, error: string): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(outcome, `expected ${error}`).toBeInstanceOf(OAuthError);
  expect((outcome as OAuthError).error).toBe(error);
}

/** Changes the stored client `id` as Administration does: read with its revision, edited, written over that revision. */
async function changeClient(registry: LayeredClientRegistry, id: string, edit: (record: StoredClient) => void): Promise<void> {
  const { record, revision } = (await registry.storedRevised(id))!;
  edit(record);
  expect(await registry.save(record, revision)).toBe(true);
}

/** A clock, a store on it and a failure limiter (60 s window), fresh for each test. */
function freshWorld(failures: { failuresPerPeer: number; failuresPerSubjectAndPeer: number }) {
  const clock = new ManualClock();
  const store = new MemoryStore(clock);
  const limiter = new AuthRateLimiter({ store, clock, settings: { ...failures, windowSeconds: 60 } });
  return { clock, store, limiter };
}

describe("remembered Basic credentials", () => {
  let clock: ManualClock;
  let store: MemoryStore;
  let registry: LayeredClientRegistry;
  let limiter: AuthRateLimiter;
  let authenticator: ClientAuthenticator;

  beforeEach(() => {
    ({ clock, store, limiter } = freshWorld({ failuresPerPeer: 50, failuresPerSubjectAndPeer: 3 }));
    registry = new LayeredClientRegistry([], { store, clock, cacheMs: CACHE_MS, maxTokenLifetimeSeconds: 86_400 });
    authenticator = new ClientAuthenticator(registry, undefined, limiter);
    return () => store.close();
  });

  async function createClient(id: string): Promise<{ record: StoredClient; secret: string; header: string }> {
    const secret = generateSecret("client_secret");
    const record: StoredClient = {
      id,
      secrets: [{ hash: hashSecret(secret) }],
      scopes: ["a"],
      audiences: [],
      tokenLifetimeSeconds: 60,
      createdAt: clock.now(),
    };
    expect(await registry.create(record)).toBe(true);
    return { record, secret, header: basicAuthorization(id, secret) };
  }

  const authenticate = (authorization: string, extra: { clientId?: string } = {}) =>
    authenticator.authenticate({ authorization, peer: PEER, ...extra });

  it("the registry gives the same object for an unchanged cached client, and a new one after each change", async () => {
    await createClient("same-object");
    const first = registry.peek("same-object");
    expect(first).toBeDefined();
    expect(registry.peek("same-object")).toBe(first);
    expect(await registry.find("same-object")).toBe(first);

    await changeClient(registry, "same-object", (record) => (record.scopes = ["a", "b"]));
    const edited = registry.peek("same-object");
    expect(edited).not.toBe(first);
    expect(edited?.scopes).toEqual(["a", "b"]);

    clock.advance(CACHE_MS);
    expect(registry.peek("same-object")).toBeUndefined(); // only find() can tell now
    const reread = await registry.find("same-object");
    expect(reread).not.toBe(edited);
    expect(reread?.scopes).toEqual(["a", "b"]);

    expect(registry.peek("nobody")).toBeUndefined();
    expect(await registry.find("nobody")).toBeUndefined();
    expect(registry.peek("nobody")).toBeNull(); // a remembered absence
  });

  it("a rotated-out secret stops working at its expiry even inside the cache window", async () => {
    const { header: oldHeader } = await createClient("rotating");
    expect((await authenticate(oldHeader)).client.id).toBe("rotating");

    const next = generateSecret("client_secret");
    await changeClient(registry, "rotating", (record) => {
      record.secrets = [{ hash: hashSecret(next) }, { hash: record.secrets[0]!.hash, expiresAt: clock.now() + 2_000 }];
    });
    const newHeader = basicAuthorization("rotating", next);

    expect((await authenticate(oldHeader)).client.secretHashes).toHaveLength(2);
    expect((await authenticate(newHeader)).client.id).toBe("rotating");
    clock.advance(1_999);
    expect((await authenticate(oldHeader)).client.id).toBe("rotating");
    clock.advance(1); // 2 s < CACHE_MS: the cache entry is still live
    await expectOAuthError(authenticate(oldHeader), "invalid_client");
    expect((await authenticate(newHeader)).client.secretHashes).toHaveLength(1);
  });

  it("rotation without overlap: the old header fails at once; deletion: every header fails at once", async () => {
    const { header } = await createClient("replaced");
    await authenticate(header);
    await authenticate(header);
    const next = generateSecret("client_secret");
    await changeClient(registry, "replaced", (record) => (record.secrets = [{ hash: hashSecret(next) }]));
    await expectOAuthError(authenticate(header), "invalid_client");

    const nextHeader = basicAuthorization("replaced", next);
    await authenticate(nextHeader);
    await registry.delete("replaced", 60_000);
    await expectOAuthError(authenticate(nextHeader), "invalid_client");
  });

  it("a change written by another instance is seen once the cache entry expires, as without the shortcut", async () => {
    const { header } = await createClient("elsewhere");
    await authenticate(header);
    // Another instance rotates the secret with no overlap: only the store changes.
    const other = new LayeredClientRegistry([], { store, clock, cacheMs: CACHE_MS, maxTokenLifetimeSeconds: 86_400 });
    await changeClient(other, "elsewhere", (record) => (record.secrets = [{ hash: hashSecret(generateSecret("client_secret")) }]));
    expect((await authenticate(header)).client.id).toBe("elsewhere"); // within clientCacheSeconds
    clock.advance(CACHE_MS);
    await expectOAuthError(authenticate(header), "invalid_client");
  });

  it("a wrong secret is never remembered: each attempt is checked and counted, until the peer is blocked", async () => {
    const { header } = await createClient("guarded");
    const wrong = basicAuthorization("guarded", generateSecret("client_secret"));
    for (let attempt = 0; attempt < 3; attempt++) await expectOAuthError(authenticate(wrong), "invalid_client");
    await expectOAuthError(authenticate(wrong), "slow_down"); // the 4th failure is over the limit of 3
    // Blocked for this client id from this peer: the right header is refused too...
    await expectOAuthError(authenticate(header), "slow_down");
    // ...also once it has been remembered (it authenticated from another peer).
    await authenticator.authenticate({ authorization: header, peer: "198.51.100.1" });
    await expectOAuthError(authenticate(header), "slow_down");
  });

  it("a remembered header with a client_id for another client in the body: invalid_request", async () => {
    const { header } = await createClient("one");
    await createClient("two");
    await authenticate(header);
    await expectOAuthError(authenticate(header, { clientId: "two" }), "invalid_request");
    expect((await authenticate(header, { clientId: "one" })).client.id).toBe("one");
  });

  it("a remembered header plus a client_secret in the body is still two methods: invalid_request", async () => {
    const { header, secret } = await createClient("twice");
    await authenticate(header);
    await expectOAuthError(authenticator.authenticate({ authorization: header, clientId: "twice", clientSecret: secret, peer: PEER }), "invalid_request");
  });
});

describe("remembered API keys", () => {
  let clock: ManualClock;
  let store: MemoryStore;
  let registry: LayeredApiKeyRegistry;
  let limiter: AuthRateLimiter;

  beforeEach(() => {
    ({ clock, store, limiter } = freshWorld({ failuresPerPeer: 3, failuresPerSubjectAndPeer: 3 }));
    registry = new LayeredApiKeyRegistry([], { store, clock, cacheMs: CACHE_MS });
    return () => store.close();
  });

  async function createKey(name: string): Promise<{ record: StoredApiKey; header: string }> {
    const key = generateSecret("api_key");
    const record: StoredApiKey = { name, keyHash: hashSecret(key), keyPrefix: key.slice(0, 12), scopes: ["g"], grantLifetimeSeconds: 30, createdAt: clock.now() };
    expect(await registry.create(record)).toBe(true);
    return { record, header: basicAuthorization(key, "") };
  }

  const authenticate = (header: string, peer = PEER) => authenticateApiKey(registry, header, { limiter, peer });

  it("a changed key is read anew, and a deleted key's header fails at once", async () => {
    const { record, header } = await createKey("backend");
    const first = await authenticate(header);
    expect(await authenticate(header)).toBe(first);

    const { revision } = (await registry.findStoredByName("backend"))!;
    expect(await registry.save({ ...record, scopes: ["g", "h"] }, revision)).toBe(true);
    expect((await authenticate(header)).scopes).toEqual(["g", "h"]);

    await registry.delete(record);
    await expectOAuthError(authenticate(header), "invalid_client");
  });

  it("a key deleted by another instance stops within the cache window, as without the shortcut", async () => {
    const { record, header } = await createKey("elsewhere");
    await authenticate(header);
    await new LayeredApiKeyRegistry([], { store, clock, cacheMs: CACHE_MS }).delete(record);
    expect((await authenticate(header)).name).toBe("elsewhere");
    clock.advance(CACHE_MS);
    await expectOAuthError(authenticate(header), "invalid_client");
  });

  it("wrong keys are never remembered and count until the peer is blocked, remembered header or not", async () => {
    const { header } = await createKey("guarded");
    await authenticate(header); // remembered
    const wrong = basicAuthorization(generateSecret("api_key"), "");
    for (let attempt = 0; attempt < 3; attempt++) await expectOAuthError(authenticate(wrong), "invalid_client");
    await expectOAuthError(authenticate(wrong), "slow_down");
    await expectOAuthError(authenticate(header), "slow_down");
    expect((await authenticate(header, "198.51.100.1")).name).toBe("guarded");
  });
});
