import { BlockList, isIP } from "node:net";

/**
 * Addresses that are not globally reachable (IANA IPv4 and IPv6
 * special-purpose registries): loopback, private, CGNAT, link-local,
 * unique-local, documentation, multicast, reserved. A server-side fetch to
 * one of them reaches the operator's own network, not the client's.
 */
const internal = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network": 0.0.0.0 reaches the local host on Linux
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata services
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  internal.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 96], // unspecified, loopback, IPv4-compatible (IPv4-mapped ::ffff:0:0/96 is checked against the IPv4 rules)
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard-only
  ["2001::", 23], // IETF protocol assignments (Teredo, benchmarking, ORCHID)
  ["2001:db8::", 32], // documentation
  ["2002::", 16], // 6to4 embeds any IPv4 address
  ["fc00::", 7], // unique-local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const) {
  internal.addSubnet(network, prefix, "ipv6");
}
const nat64 = new BlockList();
nat64.addSubnet("64:ff9b::", 96, "ipv6");

/** True for an IP address a server must not be made to call on a client's behalf. */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) throw new TypeError(`not an IP address: ${address}`);
  if (family === 4) return internal.check(address, "ipv4");
  if (internal.check(address, "ipv6")) return true;
  // NAT64 (RFC 6052) reaches the IPv4 address in its last 32 bits.
  if (nat64.check(address, "ipv6")) return internal.check(embeddedIpv4(address), "ipv4");
  return false;
}

function embeddedIpv4(address: string): string {
  // URL serialisation writes IPv6 in canonical hex groups (a dotted tail becomes two groups).
  const groups = new URL(`http://[${address}]/`).hostname.slice(1, -1).split(":");
  const value = (Number.parseInt(groups.at(-2) || "0", 16) << 16) | Number.parseInt(groups.at(-1) || "0", 16);
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}
