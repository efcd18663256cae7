import { describe, expect, it } from "vitest";
import { isInternalAddress } from "../../src/domain/network-address.js";

/** Which addresses a server-side fetch (a client's jwks_uri, issue 16) must not reach unless the operator allows it. */
describe("isInternalAddress", () => {
  it.each([
    ["0.0.0.0", "this network (reaches the local host)"],
    ["0.1.2.3", "this network"],
    ["10.20.30.40", "RFC 1918"],
    ["100.64.0.1", "CGNAT"],
    ["100.127.255.254", "CGNAT, last"],
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback, anywhere in /8"],
    ["169.254.169.254", "link-local: cloud metadata"],
    ["172.16.0.1", "RFC 1918"],
    ["172.31.255.255", "RFC 1918, last"],
    ["192.0.0.8", "IETF protocol assignments"],
    ["192.0.2.1", "TEST-NET-1"],
    ["192.168.1.1", "RFC 1918"],
    ["198.18.0.1", "benchmarking"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:7f00:1", "IPv4-mapped loopback, hex"],
    ["::ffff:10.0.0.1", "IPv4-mapped private"],
    ["::ffff:169.254.169.254", "IPv4-mapped metadata"],
    ["::127.0.0.1", "IPv4-compatible"],
    ["64:ff9b::7f00:1", "NAT64 of loopback"],
    ["64:ff9b::a9fe:a9fe", "NAT64 of metadata"],
    ["64:ff9b:1::1", "local-use NAT64"],
    ["2001:db8::1", "documentation"],
    ["2002:7f00:1::1", "6to4"],
    ["fc00::1", "unique-local"],
    ["fd12:3456::1", "unique-local"],
    ["fe80::1", "link-local"],
    ["febf::1", "link-local, last"],
    ["ff02::1", "multicast"],
  ])("%s is internal (%s)", (address) => {
    expect(isInternalAddress(address)).toBe(true);
  });

  it.each([
    ["8.8.8.8"],
    ["1.1.1.1"],
    ["100.63.255.255"],
    ["100.128.0.0"],
    ["172.15.255.255"],
    ["172.32.0.0"],
    ["169.253.255.255"],
    ["192.169.0.1"],
    ["223.255.255.255"],
    ["::ffff:8.8.8.8"],
    ["64:ff9b::808:808"],
    ["2606:4700:4700::1111"],
    ["2a00:1450:4001:80b::200e"],
  ])("%s is public", (address) => {
    expect(isInternalAddress(address)).toBe(false);
  });

  it("refuses to classify something that is not an IP address", () => {
    expect(() => isInternalAddress("localhost")).toThrow(TypeError);
  });
});
