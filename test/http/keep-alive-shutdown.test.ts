import { describe, expect, it } from "vitest";
import { httpGet, postForm } from "../support/oauth.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

/**
 * OAuth clients (fetch, openid-client) keep HTTP/1.1 connections alive
 * between requests. Closing Tokensmith must end those idle connections at
 * once, not wait out the whole grace period for them.
 */

const orders = testClient("orders-service", ["orders:read"]);

describe("closing with idle HTTP/1.1 keep-alive connections from OAuth clients", () => {
  it("returns well within the 5 s grace period", async () => {
    const server = await startTestServer({ clients: [orders] });
    const token = await postForm(`${server.url}/oauth2/token`, { grant_type: "client_credentials" }, basic(orders.id, orders.secret));
    expect(token.status).toBe(200);
    expect((await httpGet(`${server.url}/.well-known/jwks.json`)).status).toBe(200);
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("returns at once when no connection is open (control)", async () => {
    const server = await startTestServer({ clients: [orders] });
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
