import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import { audienceList } from "./access-token.js";
import type { ActiveAccessTokens } from "./active-access-tokens.js";
import type { CallerRateLimiter } from "./caller-rate-limiter.js";
import type { CallerAuthenticator } from "./caller.js";
import type { ClientCredentials } from "./client-authenticator.js";
import type { Clock } from "./clock.js";
import { grantEndMs, isGrantToken, parseGrantRecord } from "./grant.js";
import { invalidRequest } from "./oauth-error.js";
import { tokenDigest } from "./secret-format.js";

export const INTROSPECT_SCOPE = "token:introspect";
const MAX_TOKEN_LENGTH = 8192;

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
    // Spending a grant changes state: the caller is checked against the store (see CallerOptions).
    const caller = await this.deps.callers.authenticate(credentials, INTROSPECT_SCOPE, { changesState: request.consume === true });
    this.deps.limiter?.take(caller.kind === "client" ? `client:${caller.client.id}` : `bearer:${caller.claims.client_id}`);
    if (request.token.length === 0) throw invalidRequest("token is required");
    if (request.token.length > MAX_TOKEN_LENGTH) return INACTIVE;
    return isGrantToken(request.token) ? this.grant(request.token, request.consume === true) : this.accessToken(request.token);
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
    };
  }

  private async grant(token: string, consume: boolean): Promise<Introspection> {
    const key = storeKeys.grant(tokenDigest(token));
    const record = parseGrantRecord(consume ? await this.deps.store.getDel(key) : await this.deps.store.get(key));
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
