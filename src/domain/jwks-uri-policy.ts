import { isIP } from "node:net";
import { isInternalAddress } from "./network-address.js";

/**
 * Which `jwks_uri`s Tokensmith fetches. A client's jwks_uri is fetched by the
 * server, on an unauthenticated request: by default only https, and only to
 * globally reachable addresses, so a client cannot aim the server at its own
 * network (SSRF). Operators whose key servers live inside open it up.
 */
export interface JwksUriPolicy {
  /** Allow http: URIs (tests, local development). */
  allowHttp: boolean;
  /** Allow loopback, private, link-local and other internal addresses. */
  allowPrivateNetworks: boolean;
}

/** Why a jwks_uri is refused or could not be read. The message is safe to show to an administrator. */
export class JwksUriError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "JwksUriError";
  }
}

/** Checks what can be checked without DNS: the scheme, credentials, and an address written in the URI. */
export function checkJwksUri(uri: string, policy: JwksUriPolicy): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new JwksUriError("jwks_uri must be an absolute https URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowHttp)) {
    throw new JwksUriError(
      policy.allowHttp ? "jwks_uri must be an absolute http(s) URL" : "jwks_uri must be an https URL (clientJwksUris.allowHttp is off)",
    );
  }
  if (url.username !== "" || url.password !== "") throw new JwksUriError("jwks_uri must not carry credentials");
  const literal = hostAddress(url);
  if (literal !== undefined) checkJwksAddress(literal, policy);
  return url;
}

/** Checks an address the jwks_uri's host resolved to (or names literally). */
export function checkJwksAddress(address: string, policy: JwksUriPolicy): void {
  if (!policy.allowPrivateNetworks && isInternalAddress(address)) {
    throw new JwksUriError("jwks_uri points to a loopback, private or otherwise internal address (clientJwksUris.allowPrivateNetworks is off)");
  }
}

/** The IP address a URL's host names literally, without brackets; undefined for a DNS name. */
export function hostAddress(url: URL): string | undefined {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) === 0 ? undefined : host;
}
