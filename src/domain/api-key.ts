import type { AuthRateLimiter } from "./auth-rate-limiter.js";
import { parseBasicAuthorization } from "./basic-credentials.js";
import { invalidClient } from "./oauth-error.js";
import type { RememberedHeaders } from "./remembered-headers.js";
import { hashSecret } from "./secret-format.js";

export const GRANT_LIFETIME = { defaultSeconds: 30, maxSeconds: 300 } as const;

/** An API key that lets a backend ask for user-bound grants. */
export interface ApiKey {
  /** Public name, shown in introspection as the grant's `client_id`. */
  name: string;
  keyHash: string;
  scopes: readonly string[];
  grantLifetimeSeconds: number;
  source: "config" | "store";
}

export interface ApiKeyRegistry {
  /** Looks a key up by the hash of the presented key (a 256-bit secret: the hash is an unforgeable index). */
  findByHash(keyHash: string): Promise<ApiKey | undefined>;
  /** Authorization headers that authenticated a key of this registry, if it keeps them (see RememberedHeaders). */
  readonly verifiedHeaders?: RememberedHeaders<ApiKey>;
}

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
