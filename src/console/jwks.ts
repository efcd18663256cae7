/**
 * The public keys a private_key_jwt client or a trusted issuer is registered
 * with, as the console's forms take them: a JWK Set pasted as JSON, or a
 * jwks_uri. Checked in the page before anything is sent, so a pasted private
 * key never leaves the browser.
 */

/** JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** The keys as AdminService fields: `jwksJson` or `jwksUri`. Throws an Error whose message says what is wrong (`whoNeedsThem` when there are none). */
export function publicKeysFrom(text: string, whoNeedsThem: string): { jwksJson: string } | { jwksUri: string } {
  const value = text.trim();
  if (value === "") throw new Error(`${whoNeedsThem}: paste a JWK Set ({"keys": […]}) or give a jwks_uri (https URL)`);
  if (value.startsWith("{") || value.startsWith("[")) return { jwksJson: checkJwks(value) };
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "https:") throw new Error("The jwks_uri must be an https URL (or paste a JWK Set as JSON)");
  return { jwksUri: value };
}

function checkJwks(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`The JWK Set is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const keys = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) throw new Error('The JWK Set must be a JSON object with a "keys" array');
  if (keys.length === 0) throw new Error('The JWK Set\'s "keys" array is empty: give at least one public key');
  keys.forEach((key: unknown, index) => {
    const name = `Key ${index + 1}`;
    if (typeof key !== "object" || key === null || Array.isArray(key) || typeof (key as { kty?: unknown }).kty !== "string") {
      throw new Error(`${name} is not a JWK: each key is an object with a "kty"`);
    }
    const secret = PRIVATE_MEMBERS.filter((member) => member in key);
    if (secret.length > 0) {
      const kid = typeof (key as { kid?: unknown }).kid === "string" ? ` (kid ${(key as { kid: string }).kid})` : "";
      throw new Error(
        `${name}${kid} is a private key (it has ${secret.map((member) => `"${member}"`).join(", ")}): paste only the public keys (nothing was sent)`,
      );
    }
  });
  return text;
}

/** The key ids of a JWK Set the server holds ("" for a key without one), to name its keys in a list. */
export function keyIdsOf(jwksJson: string): string[] {
  try {
    const keys = (JSON.parse(jwksJson) as { keys?: unknown }).keys;
    return Array.isArray(keys) ? keys.map((key: unknown) => (typeof key === "object" && key !== null && typeof (key as { kid?: unknown }).kid === "string" ? (key as { kid: string }).kid : "")) : [];
  } catch {
    return [];
  }
}
