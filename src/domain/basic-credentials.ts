import { invalidRequest } from "./oauth-error.js";

export interface BasicCredentials {
  username: string;
  password: string;
}

const MAX_HEADER_LENGTH = 4096;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes application/x-www-form-urlencoded (RFC 6749 §2.3.1 / Appendix B): `+` is a space. */
function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "));
  } catch {
    throw invalidRequest("malformed Basic authorization header: bad percent-encoding");
  }
}

/**
 * Parses `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
 * Returns undefined for any other scheme; throws invalid_request when the
 * header says Basic but cannot be decoded.
 */
export function parseBasicAuthorization(header: string | null | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const space = header.indexOf(" ");
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== "basic") return undefined;
  if (header.length > MAX_HEADER_LENGTH) throw invalidRequest("authorization header too long");
  const encoded = header.slice(space + 1).trim();
  if (encoded.length === 0 || encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
    throw invalidRequest("malformed Basic authorization header: not base64");
  }
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) throw invalidRequest("malformed Basic authorization header: no ':' separator");
  return { username: formDecode(decoded.slice(0, colon)), password: formDecode(decoded.slice(colon + 1)) };
}

/** Returns the token of `Authorization: Bearer <token>`, or undefined for any other scheme. */
export function parseBearerAuthorization(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^bearer +(\S+)\s*$/i.exec(header);
  if (match === null) return undefined;
  return match[1];
}
