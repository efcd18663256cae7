import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import { MAX_TOKEN_LENGTH, type AccessTokenVerifier } from "./access-token.js";
import type { Caller, CallerAuthenticator } from "./caller.js";
import type { ClientCredentials } from "./client-authenticator.js";
import { isGrantOf, isGrantToken, parseGrantRecord } from "./grant.js";
import { invalidRequest, unsupportedTokenType } from "./oauth-error.js";
import type { RevocationList } from "./revocation-list.js";
import { tokenDigest } from "./secret-format.js";
import type { TokenEvents } from "./token-events.js";

import { REVOKE_SCOPE } from "./scopes.js";

export { REVOKE_SCOPE };
const SUPPORTED_HINTS = new Set(["", "access_token", "grant"]);
const REVOKE_SCOPES = [REVOKE_SCOPE] as const;

/**
 * RFC 7009. The caller may revoke what was issued to it (a client its access
 * tokens, an API key its grants); a Bearer token with `token:delete` may
 * revoke anything. Unknown, expired, already revoked or foreign tokens:
 * success with no effect, so the answer tells an attacker nothing.
 */
export class TokenRevoker {
  constructor(
    private readonly deps: {
      callers: CallerAuthenticator;
      accessTokens: AccessTokenVerifier;
      revocations: RevocationList;
      store: Store;
      events: TokenEvents;
    },
  ) {}

  async revoke(credentials: ClientCredentials, request: { token: string; tokenTypeHint?: string }): Promise<void> {
    await this.revokeIfAllowed(credentials, request);
    this.deps.events.revoked();
  }

  private async revokeIfAllowed(credentials: ClientCredentials, request: { token: string; tokenTypeHint?: string }): Promise<void> {
    // Revoking changes state: a Bearer caller is checked against the store (see CallerOptions).
    const revoker = await this.deps.callers.authenticate(credentials, REVOKE_SCOPES, { changesState: true, acceptApiKeys: true });
    const hint = request.tokenTypeHint ?? "";
    if (!SUPPORTED_HINTS.has(hint)) throw unsupportedTokenType(`cannot revoke tokens of type "${hint.slice(0, 64)}"`);
    if (request.token.length === 0) throw invalidRequest("token is required");
    if (request.token.length > MAX_TOKEN_LENGTH) return;
    if (isGrantToken(request.token)) await this.revokeGrant(revoker, request.token);
    else await this.revokeAccessToken(revoker, request.token);
  }

  private async revokeAccessToken(revoker: Caller, token: string): Promise<void> {
    const verified = this.deps.accessTokens.verify(token);
    if (!verified.ok) return;
    const { claims } = verified;
    const allowed = revoker.kind === "bearer" || (revoker.kind === "client" && revoker.client.id === claims.client_id);
    if (!allowed) return;
    await this.deps.revocations.revoke(claims.jti, claims.exp);
  }

  private async revokeGrant(revoker: Caller, token: string): Promise<void> {
    const key = storeKeys.grant(tokenDigest(token));
    if (revoker.kind === "bearer") {
      await this.deps.store.del(key);
      return;
    }
    if (revoker.kind !== "api_key") return;
    const record = parseGrantRecord(await this.deps.store.get(key));
    if (record !== undefined && isGrantOf(record, revoker.apiKey)) await this.deps.store.del(key);
  }
}
