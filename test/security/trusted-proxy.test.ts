import type { ClientSessionOptions } from "node:http2";
import { Code } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import type { RunningServer } from "../../src/server.js";
import { postFormFrom, postFrom } from "../support/oauth.js";
import { serversOnRedis } from "../support/backends.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";

/**
 * Issue 16, item 6: behind a load balancer every caller had the proxy's
 * socket address, so one attacker's failed authentications locked out every
 * caller. With `trustProxy`, a request whose socket peer is a trusted proxy
 * is counted against the rightmost untrusted address the proxies forwarded.
 * Loopback source addresses (127.0.0.x via `localAddress`) play the proxies,
 * the untrusted peers and the callers on one machine.
 */

const orders = testClient("orders", ["orders:read"]);
const limits = { failuresPerPeer: 20, failuresPerSubjectAndPeer: 3, windowSeconds: 60 };
const PROXY = "127.0.0.2";
const UNTRUSTED = "127.0.0.4";
const ATTACKER = "203.0.113.7";
const CALLER = "198.51.100.9";

const tokenForm = (secret: string) => ({ grant_type: "client_credentials", client_id: orders.id, client_secret: secret });

describe("failed-authentication limits behind trusted proxies", () => {
  const { redis, track } = serversOnRedis();
  const start = async (config: Partial<ConfigInput>) =>
    track(await startTestServer({ clients: [orders], config: { store: { type: "redis", url: redis().url }, rateLimits: limits, ...config } }));
  /** POST /oauth2/token from a source address, with extra headers (X-Forwarded-For, Forwarded). */
  const token = (server: RunningServer, secret: string, from: string, headers: Record<string, string> = {}) =>
    postFormFrom(server.url, "/oauth2/token", tokenForm(secret), { from, headers });
  /** Fails authentication until the limit answers 429; the calls before it must each be 401. */
  const lockOut = async (attempt: (index: number) => Promise<{ status: number }>) => {
    const statuses: number[] = [];
    for (let i = 0; i <= limits.failuresPerSubjectAndPeer; i += 1) statuses.push((await attempt(i)).status);
    expect(statuses).toEqual([...Array<number>(limits.failuresPerSubjectAndPeer).fill(401), 429]);
  };

  it("trustProxy: true (loopback proxies): one attacker's failures lock out that attacker's forwarded address only", async () => {
    const server = await start({ trustProxy: true });
    await lockOut(() => token(server, "wrong", PROXY, { "x-forwarded-for": ATTACKER }));
    // The attacker stays refused, even with the right secret...
    expect((await token(server, orders.secret, PROXY, { "x-forwarded-for": ATTACKER })).status).toBe(429);
    // ...but another caller forwarded by the same proxy is not, nor is the proxy itself.
    expect((await token(server, orders.secret, PROXY, { "x-forwarded-for": CALLER })).status).toBe(200);
    expect((await token(server, orders.secret, PROXY)).status).toBe(200);
  });

  it("ignores the X-Forwarded-For of a peer that is not a trusted proxy: it cannot spoof its way out of the lockout", async () => {
    const server = await start({ trustProxy: [PROXY] });
    await lockOut((i) => token(server, "wrong", UNTRUSTED, { "x-forwarded-for": `198.51.100.${100 + i}` }));
    expect((await token(server, orders.secret, UNTRUSTED, { "x-forwarded-for": CALLER })).status).toBe(429);
    expect((await token(server, orders.secret, UNTRUSTED, { forwarded: `for=${CALLER}` })).status).toBe(429);
  });

  it("takes the rightmost untrusted address of a chain of proxies, whatever the caller put to its left", async () => {
    const server = await start({ trustProxy: [PROXY, "10.0.0.0/8"] });
    // The attacker varies what it sends; the proxies append what they saw.
    await lockOut((i) => token(server, "wrong", PROXY, { "x-forwarded-for": `192.0.2.${i}, ${ATTACKER}, 10.1.2.3` }));
    expect((await token(server, orders.secret, PROXY, { "x-forwarded-for": ATTACKER })).status).toBe(429);
    expect((await token(server, orders.secret, PROXY, { "x-forwarded-for": `${ATTACKER}, 10.200.0.1` })).status).toBe(429);
    expect((await token(server, orders.secret, PROXY, { "x-forwarded-for": `${ATTACKER}, ${CALLER}, 10.1.2.3` })).status).toBe(200);
  });

  it('reads RFC 7239 Forwarded "for=" (quoted, with ports, IPv6 proxies by CIDR) when forwardedHeader is "forwarded", and then ignores X-Forwarded-For', async () => {
    const server = await start({ trustProxy: [PROXY, "2001:db8::/32"], forwardedHeader: "forwarded" });
    await lockOut((i) =>
      token(server, "wrong", PROXY, { forwarded: `for=192.0.2.${i};proto=https, for="${ATTACKER}:4711";by=_lb, For="[2001:db8:cafe::17]:443"` }),
    );
    expect((await token(server, orders.secret, PROXY, { forwarded: `for=${ATTACKER}` })).status).toBe(429);
    expect((await token(server, orders.secret, PROXY, { forwarded: `for=${ATTACKER}`, "x-forwarded-for": CALLER })).status).toBe(429);
    expect((await token(server, orders.secret, PROXY, { forwarded: `for="[2001:db9::1]"` })).status).toBe(200);
  });

  it.each<[string, Record<string, string>, Partial<ConfigInput>]>([
    ["X-Forwarded-For that is not an address", { "x-forwarded-for": "not-an-address" }, {}],
    ["X-Forwarded-For whose rightmost entry is empty", { "x-forwarded-for": `${ATTACKER}, ` }, {}],
    ['Forwarded whose last element has no "for"', { forwarded: `for=${ATTACKER}, proto=https` }, { forwardedHeader: "forwarded" }],
  ])("counts a malformed header (%s) against the socket peer, the proxy itself", async (_case, headers, extra) => {
    const server = await start({ trustProxy: [PROXY], ...extra });
    await lockOut(() => token(server, "wrong", PROXY, headers));
    expect((await token(server, orders.secret, PROXY)).status).toBe(429);
    const forwardedCaller: Record<string, string> = extra.forwardedHeader === "forwarded" ? { forwarded: `for=${CALLER}` } : { "x-forwarded-for": CALLER };
    expect((await token(server, orders.secret, PROXY, forwardedCaller)).status).toBe(200);
  });

  it("honours X-Forwarded-Proto for requireTls from a trusted proxy only", async () => {
    const server = await start({ trustProxy: [PROXY], requireTls: true });
    expect((await token(server, orders.secret, PROXY, { "x-forwarded-proto": "https" })).status).toBe(200);
    const untrusted = await token(server, orders.secret, UNTRUSTED, { "x-forwarded-proto": "https" });
    expect([untrusted.status, untrusted.body.error_description]).toEqual([403, expect.stringMatching(/TLS is required/)]);
  });

  it("applies to RPCs too: Connect JSON over HTTP/1.1 and gRPC over one HTTP/2 connection from the proxy", async () => {
    const server = await start({ trustProxy: [PROXY] });
    const url = new URL("/tokensmith.v1.TokenService/IssueClientToken", server.url).toString();
    const connectJson = (secret: string, forwardedFor: string) =>
      postFrom(url, "{}", { from: PROXY, headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor, ...basic(orders.id, secret) } });
    await lockOut(() => connectJson("wrong", ATTACKER));
    expect((await connectJson(orders.secret, CALLER)).status).toBe(200);

    const grpc = tokenClient(createGrpcTransport({ baseUrl: server.url, nodeOptions: { localAddress: PROXY } as ClientSessionOptions }));
    const call = (secret: string, forwardedFor: string) =>
      grpc.issueClientToken({}, { headers: { "x-forwarded-for": forwardedFor, ...basic(orders.id, secret) } });
    const other = "192.0.2.55";
    for (let i = 0; i < limits.failuresPerSubjectAndPeer; i += 1) await expectRpcError(call("wrong", other), Code.Unauthenticated, "invalid_client");
    await expectRpcError(call("wrong", other), Code.ResourceExhausted, "slow_down");
    await expectRpcError(call(orders.secret, ATTACKER), Code.ResourceExhausted, "slow_down");
    expect((await call(orders.secret, CALLER)).accessToken).not.toBe("");
  });
});
