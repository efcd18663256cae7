import type { IncomingHttpHeaders } from "node:http";
import { BlockList, isIP, isIPv4 } from "node:net";

export interface ProxySettings {
  /** false: nobody; true: loopback only; else addresses and CIDRs of the proxies in front. */
  trustProxy: boolean | string[];
  /** The one header the proxies append to (a proxy passes the other one through from the client untouched). */
  forwardedHeader: "x-forwarded-for" | "forwarded";
}

export interface ClientAddressResolver {
  /** Whether a socket peer is a trusted proxy, whose forwarding headers count. */
  trusts(address: string | undefined): boolean;
  /**
   * The address a request counts against, for rate limits and logs: the
   * socket peer, or, when that is a trusted proxy, the rightmost untrusted
   * address it forwarded (everything left of that the caller could write).
   * A malformed entry where the walk reads falls back to the socket peer.
   */
  of(req: { socket?: { remoteAddress?: string } | null; headers: IncomingHttpHeaders }): string | undefined;
}

const LOOPBACK = ["127.0.0.0/8", "::1/128"];

/** "address" or "address/prefix", IPv4 or IPv6; undefined when malformed. */
export function parseAddressRange(text: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const bits = version === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(bits) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return undefined;
  return { address, prefix: Number(prefixText), family: version === 4 ? "ipv4" : "ipv6" };
}

function blockListOf(ranges: string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const parsed = parseAddressRange(range);
    if (parsed === undefined) throw new TypeError(`not an IP address or CIDR: ${JSON.stringify(range)}`);
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list;
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::\d{1,5})?$/;

/** One hop as proxies write it (bare, IPv4:port, [IPv6]:port), normalised; undefined when not an address. */
function addressOfHop(hop: string): string | undefined {
  let text = hop.trim();
  const bracketed = BRACKETED_IPV6.exec(text);
  if (bracketed) text = bracketed[1]!;
  else {
    const withPort = IPV4_WITH_PORT.exec(text);
    if (withPort) text = withPort[1]!;
  }
  if (isIP(text) === 0) return undefined;
  const mapped = MAPPED_IPV4.exec(text);
  return mapped && isIPv4(mapped[1]!) ? mapped[1] : text;
}

/**
 * The `for=` value of each element of an RFC 7239 Forwarded header, in
 * order; undefined for an element without one; undefined overall when the
 * quoting is broken. Quoted strings may hold commas and semicolons.
 */
function forwardedForValues(header: string): Array<string | undefined> | undefined {
  const values: Array<string | undefined> = [];
  let current: string | undefined;
  let name = "";
  let value = "";
  let inValue = false;
  let quoted = false;
  const endPair = () => {
    if (name.trim().toLowerCase() === "for") current = value.trim();
    name = "";
    value = "";
    inValue = false;
  };
  for (let i = 0; i < header.length; i += 1) {
    const char = header[i]!;
    if (quoted) {
      if (char === "\\" && i + 1 < header.length) value += header[++i];
      else if (char === '"') quoted = false;
      else value += char;
    } else if (char === '"' && inValue) quoted = true;
    else if (char === "=" && !inValue) inValue = true;
    else if (char === ";") endPair();
    else if (char === ",") {
      endPair();
      values.push(current);
      current = undefined;
    } else if (inValue) value += char;
    else name += char;
  }
  if (quoted) return undefined;
  endPair();
  values.push(current);
  return values;
}

export function clientAddressResolver(settings: ProxySettings): ClientAddressResolver {
  const ranges = settings.trustProxy === true ? LOOPBACK : settings.trustProxy === false ? [] : settings.trustProxy;
  if (ranges.length === 0) {
    // Nobody is trusted: no per-request work beyond reading the socket.
    return { trusts: () => false, of: (req) => req.socket?.remoteAddress };
  }
  const trusted = blockListOf(ranges);
  const trusts = (address: string | undefined): boolean => {
    if (address === undefined) return false;
    const version = isIP(address);
    return version !== 0 && trusted.check(address, version === 4 ? "ipv4" : "ipv6");
  };
  const header = settings.forwardedHeader;
  return {
    trusts,
    of(req) {
      const socketPeer = req.socket?.remoteAddress;
      if (!trusts(socketPeer)) return socketPeer;
      const raw: string | string[] | undefined = req.headers[header];
      if (raw === undefined) return socketPeer;
      const text = Array.isArray(raw) ? raw.join(",") : raw;
      const hops = header === "forwarded" ? forwardedForValues(text) : text.split(",");
      if (hops === undefined) return socketPeer;
      let leftmost: string | undefined;
      for (let i = hops.length - 1; i >= 0; i -= 1) {
        const hop = hops[i];
        const address = hop === undefined ? undefined : addressOfHop(hop);
        if (address === undefined) return socketPeer;
        if (!trusts(address)) return address;
        leftmost = address;
      }
      // Every hop is a trusted proxy: the first of them is where the request began.
      return leftmost ?? socketPeer;
    },
  };
}
