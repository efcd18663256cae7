import type { IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import { clientAddressResolver, type ProxySettings } from "../../src/http/client-address.js";

/**
 * Which address a request counts against (rate limits, logs): the socket
 * peer, or, when that peer is a trusted proxy, the rightmost untrusted
 * address of the forwarding header. A narrow unit test of the parsing; the
 * end-to-end behaviour is in test/security/trusted-proxy.test.ts.
 */

const xff = (trustProxy: ProxySettings["trustProxy"]): ProxySettings => ({ trustProxy, forwardedHeader: "x-forwarded-for" });
const fwd = (trustProxy: ProxySettings["trustProxy"]): ProxySettings => ({ trustProxy, forwardedHeader: "forwarded" });
const request = (remoteAddress: string | undefined, headers: IncomingHttpHeaders) => ({ socket: { remoteAddress }, headers });

describe("the address a request counts against", () => {
  it.each<[string, ProxySettings, string | undefined, IncomingHttpHeaders, string | undefined]>([
    ["no trusted proxy: the socket peer, headers ignored", xff(false), "127.0.0.2", { "x-forwarded-for": "1.2.3.4" }, "127.0.0.2"],
    ["an empty list trusts nobody", xff([]), "127.0.0.2", { "x-forwarded-for": "1.2.3.4" }, "127.0.0.2"],
    ["true trusts loopback", xff(true), "127.0.0.2", { "x-forwarded-for": "1.2.3.4" }, "1.2.3.4"],
    ["true trusts IPv6 loopback", xff(true), "::1", { "x-forwarded-for": "1.2.3.4" }, "1.2.3.4"],
    ["true trusts nothing but loopback", xff(true), "10.0.0.1", { "x-forwarded-for": "1.2.3.4" }, "10.0.0.1"],
    ["a trusted proxy without the header: the proxy", xff(true), "127.0.0.2", {}, "127.0.0.2"],
    ["an IPv4-mapped socket peer matches an IPv4 CIDR", xff(["127.0.0.0/8"]), "::ffff:127.0.0.2", { "x-forwarded-for": "1.2.3.4" }, "1.2.3.4"],
    ["an IPv6 CIDR", xff(["2001:db8::/32"]), "2001:db8::5", { "x-forwarded-for": "2001:db9::1" }, "2001:db9::1"],
    ["the rightmost untrusted of a chain", xff(["127.0.0.2", "10.0.0.0/8"]), "127.0.0.2", { "x-forwarded-for": "9.9.9.9, 1.2.3.4, 10.0.0.7" }, "1.2.3.4"],
    ["every hop trusted: the leftmost", xff(["127.0.0.2", "10.0.0.0/8"]), "127.0.0.2", { "x-forwarded-for": "10.0.0.9, 10.0.0.7" }, "10.0.0.9"],
    ["repeated headers join in order", xff(true), "127.0.0.2", { "x-forwarded-for": ["9.9.9.9", "1.2.3.4"] as unknown as string }, "1.2.3.4"],
    ["an IPv4-mapped forwarded address is written as IPv4", xff(true), "127.0.0.2", { "x-forwarded-for": "::ffff:1.2.3.4" }, "1.2.3.4"],
    ["an IPv4 address with a port", xff(true), "127.0.0.2", { "x-forwarded-for": "1.2.3.4:5678" }, "1.2.3.4"],
    ["a bracketed IPv6 address with a port", xff(true), "127.0.0.2", { "x-forwarded-for": "[2001:db8::1]:80" }, "2001:db8::1"],
    ["malformed rightmost entry: the socket peer", xff(true), "127.0.0.2", { "x-forwarded-for": "1.2.3.4, garbage" }, "127.0.0.2"],
    ["an empty header: the socket peer", xff(true), "127.0.0.2", { "x-forwarded-for": "" }, "127.0.0.2"],
    ["an address out of range: the socket peer", xff(true), "127.0.0.2", { "x-forwarded-for": "256.1.1.1" }, "127.0.0.2"],
    ["garbage left of the rightmost untrusted is never read", xff(true), "127.0.0.2", { "x-forwarded-for": "<script>, 1.2.3.4" }, "1.2.3.4"],
    ["the Forwarded header is not read in x-forwarded-for mode", xff(true), "127.0.0.2", { forwarded: "for=1.2.3.4" }, "127.0.0.2"],
    ["Forwarded for=", fwd(true), "127.0.0.2", { forwarded: "for=1.2.3.4;proto=https" }, "1.2.3.4"],
    ["Forwarded: the last element, name in any case", fwd(true), "127.0.0.2", { forwarded: "for=9.9.9.9, FOR=1.2.3.4" }, "1.2.3.4"],
    ["Forwarded: a quoted IPv6 with a port", fwd(true), "127.0.0.2", { forwarded: 'for="[2001:db8:cafe::17]:4711"' }, "2001:db8:cafe::17"],
    ["Forwarded: a comma inside a quoted value", fwd(true), "127.0.0.2", { forwarded: 'by="a,b";for=1.2.3.4' }, "1.2.3.4"],
    ["Forwarded: an obfuscated node is not an address", fwd(true), "127.0.0.2", { forwarded: "for=_hidden" }, "127.0.0.2"],
    ['Forwarded: "unknown" is not an address', fwd(true), "127.0.0.2", { forwarded: "for=unknown" }, "127.0.0.2"],
    ["Forwarded: an unterminated quote", fwd(true), "127.0.0.2", { forwarded: 'for="1.2.3.4' }, "127.0.0.2"],
    ["Forwarded: X-Forwarded-For is not read", fwd(true), "127.0.0.2", { "x-forwarded-for": "1.2.3.4" }, "127.0.0.2"],
    ["no socket address (a destroyed socket)", xff(true), undefined, { "x-forwarded-for": "1.2.3.4" }, undefined],
  ])("%s", (_case, settings, socketPeer, headers, expected) => {
    expect(clientAddressResolver(settings).of(request(socketPeer, headers))).toBe(expected);
  });

  it("says which socket peers are trusted proxies", () => {
    const resolver = clientAddressResolver(xff(["10.1.0.0/16", "192.0.2.1"]));
    expect([resolver.trusts("10.1.200.3"), resolver.trusts("::ffff:10.1.0.1"), resolver.trusts("192.0.2.1")]).toEqual([true, true, true]);
    expect([resolver.trusts("10.2.0.1"), resolver.trusts("192.0.2.2"), resolver.trusts(undefined), resolver.trusts("junk")]).toEqual([false, false, false, false]);
  });
});
