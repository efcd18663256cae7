import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { MemoryStore } from "../../src/store/memory.js";
import { StoreUnavailableError, type Store } from "../../src/store/store.js";
import { assertionClaims, assertionForm, generateClientKey, oauthErrorOf, postForm, signAssertion, type ClientKey, type HttpResult } from "../support/oauth.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * The OAuth endpoints fail closed when the store cannot answer: 503
 * temporarily_unavailable with Retry-After, never an "active" answer, never
 * a token bought with an assertion whose jti could not be recorded.
 */

/**
 * A MemoryStore that can be switched off: every call but close() then
 * rejects like an unreachable Redis. A Proxy, so it follows the Store
 * interface as it grows.
 */
function switchableStore(inner = new MemoryStore()): { store: Store; setDown(down: boolean): void } {
  let down = false;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "close") return value;
      return (...args: unknown[]) => (down ? Promise.reject(new StoreUnavailableError("store switched off by the test")) : value.apply(target, args));
    },
  }) as Store;
  return { store, setDown: (next) => (down = next) };
}

const orders = testClient("orders-service", ["orders:read", "token:introspect"]);
const PKJWT = "pkjwt-client";

let key: ClientKey;
let store: ReturnType<typeof switchableStore>;
let server: RunningServer;

beforeAll(async () => {
  key = await generateClientKey("ES256");
  store = switchableStore();
  server = await startTestServer({ store: store.store, clients: [orders], config: { clients: [{ id: PKJWT, jwks: { keys: [key.publicJwk] }, scopes: ["orders:read"] }] } });
});

afterAll(async () => {
  await server?.close();
  await store?.store.close();
});

async function issue(): Promise<string> {
  const result = await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials" }, basic(orders.id, orders.secret));
  expect(result.status, result.text).toBe(200);
  return (result.json as { access_token: string }).access_token;
}

function expectUnavailable(result: HttpResult): void {
  expect({ status: result.status, error: oauthErrorOf(result) }, result.text).toEqual({ status: 503, error: "temporarily_unavailable" });
  expect(result.headers.get("retry-after")).toMatch(/^\d+$/);
  expect(result.text).not.toContain("switched off");
}

describe("with the store unreachable", () => {
  it("introspection answers 503, not active and not inactive", async () => {
    const token = await issue();
    store.setDown(true);
    try {
      expectUnavailable(await postForm(`${server.url}/oauth2/introspect`, { token }, basic(orders.id, orders.secret)));
    } finally {
      store.setDown(false);
    }
  });

  it("revocation answers 503 rather than a 200 that lost the revocation", async () => {
    const token = await issue();
    store.setDown(true);
    try {
      expectUnavailable(await postForm(`${server.url}/oauth2/revoke`, { token }, basic(orders.id, orders.secret)));
    } finally {
      store.setDown(false);
    }
    const after = await postForm(`${server.url}/oauth2/introspect`, { token }, basic(orders.id, orders.secret));
    expect(after.json).toMatchObject({ active: true });
  });

  it("private_key_jwt answers 503: a jti that cannot be recorded buys no token", async () => {
    const assertion = await signAssertion(key, assertionClaims(PKJWT, server.domain.issuer, Date.now()));
    store.setDown(true);
    try {
      expectUnavailable(await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion) }));
    } finally {
      store.setDown(false);
    }
    // Back up: the same assertion was never spent, so it works now.
    const result = await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion) });
    expect(result.status, result.text).toBe(200);
  });
});
