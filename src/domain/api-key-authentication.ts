import type { ApiKey, ApiKeyRegistry } from "./api-key.js";
import type { AuthRateLimiter } from "./auth-rate-limiter.js";
import { parseBasicAuthorization } from "./basic-credentials.js";
import { invalidClient } from "./oauth-error.js";
import { hashSecret } from "./secret-format.js";

const MAX_API_KEY_LENGTH = 512;

/** The API key presented as `Authorization: Basic base64(api_key ":")`, if any. */
export function presentedApiKey(authorization: string | null | undefined): string | undefined {
  const basic = parseBasicAuthorization(authorization);
  if (basic === undefined || basic.password !== "" || basic.username.length === 0) return undefined;
  return basic.username;
}

export async function authenticateApiKey(
  registry: ApiKeyRegistry,
  authorization: string | null | undefined,
  limits?: { limiter: AuthRateLimiter; peer: string | undefined },
): Promise<ApiKey> {
  const remembered = authorization ? registry.verifiedHeaders?.get(authorization) : undefined;
  if (remembered !== undefined) {
    limits?.limiter.checkNotBlocked(undefined, limits.peer);
    return remembered;
  }
  const presented = presentedApiKey(authorization);
  if (presented === undefined) throw invalidClient("an API key is required: Authorization: Basic base64(api_key \":\")");
  // API keys have no public id: the subject of their limit is the peer alone.
  limits?.limiter.checkNotBlocked(undefined, limits.peer);
  const key = presented.length > MAX_API_KEY_LENGTH ? undefined : await registry.findByHash(hashSecret(presented));
  if (key === undefined) {
    await limits?.limiter.recordFailure(undefined, limits.peer);
    throw invalidClient("invalid API key");
  }
  registry.verifiedHeaders?.remember(authorization as string, key);
  return key;
}
