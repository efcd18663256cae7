import { randomId } from "./random-id.js";
import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { ApiKey, ApiKeyRegistry } from "./api-key.js";
import { authenticateApiKey } from "./api-key-authentication.js";
import type { AuthRateLimiter } from "./auth-rate-limiter.js";
import type { Clock } from "./clock.js";
import { invalidRequest, invalidScope } from "./oauth-error.js";
import { EXTERNAL_VERIFY_SCOPE, grantScopes } from "./scopes.js";
import { generateSecret, tokenDigest } from "./secret-format.js";
import type { TokenEvents } from "./token-events.js";

export { EXTERNAL_VERIFY_SCOPE };
export const GRANT_PREFIX = "tks_gr_";
const MAX_USERNAME_LENGTH = 256;

/** What the store keeps for a grant, under the hash of the token (never the token). */
export interface GrantRecord {
  username: string;
  scopes: string[];
  /** Name of the API key that asked for it. */
  apiKey: string;
  /**
   * Hash of that key: who owns the grant. A name can be reused by a new key
   * after a deletion; the hash cannot. Records written before it was added
   * are owned by name.
   */
  apiKeyHash?: string;
  iat: number;
  /** Seconds, rounded up: the grant is never active at or after exp. */
  exp: number;
  /**
   * The exact end of the grant in milliseconds: issue instant plus lifetime,
   * the same instant the store's TTL ends it. Records written before it was
   * added end at exp.
   */
  expMs?: number;
  jti: string;
}

export interface IssuedGrant {
  token: string;
  expiresIn: number;
  grants: string[];
}

/** Who asks for a grant: the raw authorization header and the peer address. */
export interface GrantCaller {
  authorization: string | null | undefined;
  peer?: string;
}

export function isGrantToken(token: string): boolean {
  return token.startsWith(GRANT_PREFIX);
}

/** Whether `key` asked for the grant of `record` (and so may read, spend or revoke it). */
export function isGrantOf(record: GrantRecord, key: Pick<ApiKey, "name" | "keyHash">): boolean {
  return record.apiKeyHash === undefined ? record.apiKey === key.name : record.apiKeyHash === key.keyHash;
}

/** The instant (ms) a grant stops being active. */
export function grantEndMs(record: GrantRecord): number {
  return record.expMs ?? record.exp * 1000;
}

export function parseGrantRecord(value: string | null): GrantRecord | undefined {
  if (value === null) return undefined;
  try {
    return JSON.parse(value) as GrantRecord;
  } catch {
    return undefined;
  }
}

function checkUsername(username: string): void {
  if (username.trim().length === 0) throw invalidRequest("username is required");
  if (username.length > MAX_USERNAME_LENGTH) throw invalidRequest(`username is too long: at most ${MAX_USERNAME_LENGTH} characters`);
  if (/[\u0000-\u001f\u007f]/.test(username)) throw invalidRequest("username must not contain control characters");
}

/**
 * Very short-lived, single-use capable, user-bound grants authorized by an
 * API key (LoginID's grant API): opaque 256-bit tokens kept in the store by
 * hash with a TTL equal to their lifetime.
 */
export class GrantIssuer {
  constructor(private readonly deps: { apiKeys: ApiKeyRegistry; store: Store; clock: Clock; events: TokenEvents; limiter?: AuthRateLimiter }) {}

  private authenticate(caller: GrantCaller) {
    return authenticateApiKey(this.deps.apiKeys, caller.authorization, this.deps.limiter && { limiter: this.deps.limiter, peer: caller.peer });
  }

  async issueGrant(caller: GrantCaller, request: { username: string; grants: readonly string[] }): Promise<IssuedGrant> {
    const key = await this.authenticate(caller);
    checkUsername(request.username);
    if (request.grants.length === 0) throw invalidRequest("grants must name at least one scope");
    const scopes = grantScopes(request.grants, key.scopes, "grant");
    return this.store(key, request.username, scopes);
  }

  async issueExternalAuthGrant(caller: GrantCaller, request: { username: string }): Promise<IssuedGrant> {
    const key = await this.authenticate(caller);
    checkUsername(request.username);
    if (!key.scopes.includes(EXTERNAL_VERIFY_SCOPE)) {
      throw invalidScope(`grant not allowed: ${EXTERNAL_VERIFY_SCOPE} is not on this API key`);
    }
    return this.store(key, request.username, [EXTERNAL_VERIFY_SCOPE]);
  }

  private async store(key: ApiKey, username: string, scopes: string[]): Promise<IssuedGrant> {
    const lifetimeSeconds = key.grantLifetimeSeconds;
    const token = generateSecret("grant");
    const nowMs = this.deps.clock.now();
    const expMs = nowMs + lifetimeSeconds * 1000;
    const record: GrantRecord = { username, scopes, apiKey: key.name, apiKeyHash: key.keyHash, iat: Math.floor(nowMs / 1000), exp: Math.ceil(expMs / 1000), expMs, jti: randomId() };
    await this.deps.store.set(storeKeys.grant(tokenDigest(token)), JSON.stringify(record), { ttlMs: lifetimeSeconds * 1000 });
    this.deps.events.tokenIssued("grant");
    return { token, expiresIn: lifetimeSeconds, grants: scopes };
  }
}
