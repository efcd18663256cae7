import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import { audienceList, MAX_TOKEN_LENGTH, type Actor } from "./access-token.js";
import type { ActiveAccessTokens } from "./active-access-tokens.js";
import type { CallerRateLimiter } from "./caller-rate-limiter.js";
import { requireClientScopes, type Caller, type CallerAuthenticator } from "./caller.js";
import type { ClientCredentials } from "./client-authenticator.js";
import type { Clock } from "./clock.js";
import type { ApiKey } from "./api-key.js";
import { grantEndMs, isGrantOf, isGrantToken, parseGrantRecord, type GrantRecord } from "./grant.js";
import { invalidRequest } from "./oauth-error.js";
import { tokenDigest } from "./secret-format.js";

import { GRANT_CONSUME_SCOPE, INTROSPECT_SCOPE } from "./scopes.js";

export { GRANT_CONSUME_SCOPE, INTROSPECT_SCOPE };
const READING_SCOPES = [INTROSPECT_SCOPE] as const;
const CONSUMING_SCOPES = [INTROSPECT_SCOPE, GRANT_CONSUME_SCOPE] as const;

export type TokenKind = "access_token" | "grant";

/** RFC 7662 §2.2; every field but `active` is present only when active. */
export type Introspection =
  | { active: false }
  | {
      active: true;
      tokenType: TokenKind;
      scopes: string[];
      clientId: string;
      username?: string;
      sub: string;
      aud: string[];
      iss: string;
      exp: number;
      iat: number;
      jti: string;
      /** RFC 8693 §4.1, for a token issued by token exchange. */
      act?: Actor;
    };

export const INACTIVE: Introspection = Object.freeze({ active: false });

export interface IntrospectRequest {
  token: string;
  tokenTypeHint?: string;
  /** Spend a single-use grant atomically. */
  consume?: boolean;
}

/**
 * Token introspection. Anything unknown, expired, revoked, forged or
 * malformed is exactly `{active: false}`; a store failure is an error
 * (fail closed), never an answer.
 *
 * Who may ask (RFC 7662 §2.1, §4): a client or Bearer token with
 * `token:introspect`, and `grant:consume` as well to spend a grant; an API
 * key, about the grants it asked for itself and nothing else (anything else
 * is `{active: false}`, so it learns no more than a stranger would).
 */
export class Introspector {
  constructor(
    private readonly deps: {
      callers: CallerAuthenticator;
      activeTokens: ActiveAccessTokens;
      /** Introspections per caller. */
      limiter?: CallerRateLimiter;
      store: Store;
      issuer: string;
      clock: Clock;
    },
  ) {}

  async introspect(credentials: ClientCredentials, request: IntrospectRequest): Promise<Introspection> {
    const consume = request.consume === true;
    const required = consume ? CONSUMING_SCOPES : READING_SCOPES;
    // Spending a grant changes state: a Bearer caller is checked against the store (see CallerOptions).
    const caller = await this.deps.callers.authenticate(credentials, required, { changesState: consume, acceptApiKeys: true });
    if (caller.kind === "client") requireClientScopes(caller.client, required);
    this.deps.limiter?.take(limitKey(caller));
    if (request.token.length === 0) throw invalidRequest("token is required");
    if (request.token.length > MAX_TOKEN_LENGTH) return INACTIVE;
    if (!isGrantToken(request.token)) return caller.kind === "api_key" ? INACTIVE : this.accessToken(request.token);
    return caller.kind === "api_key" ? this.ownGrant(caller.apiKey, request.token, consume) : this.grant(request.token, consume);
  }

  private async accessToken(token: string): Promise<Introspection> {
    const claims = await this.deps.activeTokens.check(token);
    if (claims === undefined) return INACTIVE;
    return {
      active: true,
      tokenType: "access_token",
      scopes: claims.scope === "" ? [] : claims.scope.split(" "),
      clientId: claims.client_id,
      sub: claims.sub,
      aud: audienceList(claims.aud),
      iss: claims.iss,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      ...(claims.act !== undefined ? { act: claims.act } : {}),
    };
  }

  private async grant(token: string, consume: boolean): Promise<Introspection> {
    const key = storeKeys.grant(tokenDigest(token));
    return this.grantIntrospection(parseGrantRecord(consume ? await this.deps.store.getDel(key) : await this.deps.store.get(key)));
  }

  /**
   * A grant as the API key that asked for it sees it. Read before it is
   * spent, so a key never spends another's; a record never changes hands, so
   * GETDEL then finds the same record, or nothing when a concurrent consumer won.
   */
  private async ownGrant(apiKey: ApiKey, token: string, consume: boolean): Promise<Introspection> {
    const record = parseGrantRecord(await this.deps.store.get(storeKeys.grant(tokenDigest(token))));
    if (record === undefined || !isGrantOf(record, apiKey)) return INACTIVE;
    return consume ? this.grant(token, true) : this.grantIntrospection(record);
  }

  private grantIntrospection(record: GrantRecord | undefined): Introspection {
    if (record === undefined || grantEndMs(record) <= this.deps.clock.now()) return INACTIVE;
    return {
      active: true,
      tokenType: "grant",
      scopes: record.scopes,
      clientId: record.apiKey,
      username: record.username,
      sub: record.username,
      aud: [this.deps.issuer],
      iss: this.deps.issuer,
      exp: record.exp,
      iat: record.iat,
      jti: record.jti,
    };
  }
}

/** Introspections are limited per caller: the client, the Bearer token's client, or the API key. */
function limitKey(caller: Caller): string {
  if (caller.kind === "client") return `client:${caller.client.id}`;
  return caller.kind === "bearer" ? `bearer:${caller.claims.client_id}` : `api_key:${caller.apiKey.name}`;
}
