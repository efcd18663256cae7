import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { assertionClaims, assertionForm, generateClientKey, oauthErrorOf, postForm, signAssertion, type ClientKey, type HttpResult } from "../support/oauth.js";
import { switchableStore, type SwitchableStore } from "../support/switchable-store.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * The OAuth endpoints fail closed when the store cannot answer: 503
 * temporarily_unavailable with Retry-After, never an "active" answer, never
 * a token bought with an assertion whose jti could not be recorded.
 */

const orders = testClient("orders-service", ["orders:read", "token:introspect"]);
const PKJWT = "pkjwt-client";

let key: ClientKey;
let store: SwitchableStore;
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
    store.reachable = false;
    try {
      expectUnavailable(await postForm(`${server.url}/oauth2/introspect`, { token }, basic(orders.id, orders.secret)));
    } finally {
      store.reachable = true;
    }
  });

  it("revocation answers 503 rather than a 200 that lost the revocation", async () => {
    const token = await issue();
    store.reachable = false;
    try {
      expectUnavailable(await postForm(`${server.url}/oauth2/revoke`, { token }, basic(orders.id, orders.secret)));
    } finally {
      store.reachable = true;
    }
    const after = await postForm(`${server.url}/oauth2/introspect`, { token }, basic(orders.id, orders.secret));
    expect(after.json).toMatchObject({ active: true });
  });

  it("private_key_jwt answers 503: a jti that cannot be recorded buys no token", async () => {
    const assertion = await signAssertion(key, assertionClaims(PKJWT, server.domain.issuer, Date.now()));
    store.reachable = false;
    try {
      expectUnavailable(await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion) }));
    } finally {
      store.reachable = true;
    }
    // Back up: the same assertion was never spent, so it works now.
    const result = await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion) });
    expect(result.status, result.text).toBe(200);
  });
});
