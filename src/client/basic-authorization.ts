/**
 * `Basic base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1
 * asks of OAuth clients. Uses only what browsers have too (no Buffer).
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");
  const bytes = new TextEncoder().encode(`${formEncode(clientId)}:${formEncode(clientSecret)}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

/** `Bearer <token>` (RFC 6750 §2.1). */
export function bearerAuthorization(accessToken: string): string {
  return `Bearer ${accessToken}`;
}
