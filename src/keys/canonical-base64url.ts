const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** The 6-bit value of a base64url character already known to be in the alphabet. */
function sextet(code: number): number {
  if (code >= 97) return code - 71; // a-z: 26-51
  if (code >= 65) return code - 65; // A-Z: 0-25
  if (code >= 48) return code + 4; // 0-9: 52-61
  return code === 45 ? 62 : 63; // "-" and "_"
}

/**
 * Whether a segment is the one base64url spelling of its bytes (RFC 7515 §2,
 * RFC 4648 §3.5): unpadded, in the alphabet, and with the unused low bits of
 * its last character zero. Lenient decoders (Buffer, atob) read up to 16
 * spellings as the same bytes; accepting them lets one token travel under
 * many texts, past anything keyed by the token's text. Costs one regex and a
 * look at the last character, so it stays on the hot path.
 */
export function isCanonicalBase64url(segment: string): boolean {
  if (!SEGMENT.test(segment)) return false;
  const remainder = segment.length % 4;
  if (remainder === 0) return true;
  if (remainder === 1) return false;
  const unusedMask = remainder === 2 ? 0x0f : 0x03;
  return (sextet(segment.charCodeAt(segment.length - 1)) & unusedMask) === 0;
}

/** A compact JWS of three canonical base64url segments (an empty one is never a valid JWT segment here). */
export function isCanonicalCompactJws(token: string): boolean {
  const parts = token.split(".");
  return parts.length === 3 && parts.every(isCanonicalBase64url);
}
