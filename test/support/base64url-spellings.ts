const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * The other spellings of a base64url segment that lenient decoders read as
 * the same bytes: its last character with the unused low bits set (RFC 4648
 * §3.5). 15 of them when the length is 2 mod 4, 3 when it is 3 mod 4.
 */
export function nonCanonicalSpellings(segment: string): string[] {
  const unusedBits = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0;
  const last = ALPHABET.indexOf(segment.at(-1) ?? "");
  const spellings: string[] = [];
  for (let low = 1; low < 1 << unusedBits; low++) spellings.push(segment.slice(0, -1) + ALPHABET[last | low]);
  return spellings;
}

/** A compact JWS with one segment (0 header, 1 payload, 2 signature) replaced. */
export function withSegment(token: string, index: 0 | 1 | 2, segment: string): string {
  const parts = token.split(".");
  parts[index] = segment;
  return parts.join(".");
}

/** Claims padded so their base64url JSON is 2 mod 4 long: the last character then has 4 unused bits. */
export function paddedToUnusedBits<T extends Record<string, unknown>>(make: (padding: string) => T): T {
  for (let padding = ""; ; padding += "x") {
    const value = make(padding);
    if (Buffer.from(JSON.stringify(value)).toString("base64url").length % 4 === 2) return value;
  }
}
