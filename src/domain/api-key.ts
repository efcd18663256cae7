import type { FieldList } from "./field-list.js";
import type { RememberedHeaders } from "./remembered-headers.js";

export const GRANT_LIFETIME = { defaultSeconds: 30, maxSeconds: 300 } as const;

/**
 * What is registered about an API key apart from the key itself: the one
 * definition of its fields. ApiKey (below), the stored record
 * (api-key-registry.ts), the config entry (config.ts), the admin view
 * (administration.ts) and the wire message (rpc/admin-messages.ts) are this
 * plus what each of them adds.
 */
export interface ApiKeySettings {
  /** Public name, shown in introspection as the grant's `client_id`. */
  name: string;
  scopes: readonly string[];
  grantLifetimeSeconds: number;
}

export const API_KEY_SETTINGS = { name: true, scopes: true, grantLifetimeSeconds: true } as const satisfies FieldList<ApiKeySettings>;

/** An API key that lets a backend ask for user-bound grants. */
export interface ApiKey extends ApiKeySettings {
  keyHash: string;
  source: "config" | "store";
}

/** The one way an ApiKey is made (config file or store), with one property order: see clientOf. */
export function apiKeyOf(key: Omit<ApiKey, "source">, source: ApiKey["source"]): ApiKey {
  return { name: key.name, keyHash: key.keyHash, scopes: key.scopes, grantLifetimeSeconds: key.grantLifetimeSeconds, source };
}

export interface ApiKeyRegistry {
  /** Looks a key up by the hash of the presented key (a 256-bit secret: the hash is an unforgeable index). */
  findByHash(keyHash: string): Promise<ApiKey | undefined>;
  /** Authorization headers that authenticated a key of this registry, if it keeps them (see RememberedHeaders). */
  readonly verifiedHeaders?: RememberedHeaders<ApiKey>;
}
