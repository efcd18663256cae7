import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { AccessTokenVerifier } from "./access-token.js";
import { authenticateApiKey, presentedApiKey, type ApiKeyRegistry } from "./api-key.js";
import type { AuthRateLimiter } from "./auth-rate-limiter.js";
import type { Caller, CallerAuthenticator } from "./caller.js";
import type { ClientCredentials } from "./client-authenticator.js";
import { isGrantToken, parseGrantRecord } from "./grant.js";
import { invalidRequest, unsupportedTokenType } from "./oauth-error.js";
import type { RevocationList } from "./revocation-list.js";
import { tokenDigest } from "./secret-format.js";

export const REVOKE_SCOPE = "token:delete";
const SUPPORTED_HINTS = new Set(["", "access_token", "grant"]);
const MAX_TOKEN_LENGTH = 8192;

type Revoker = Caller | { kind: "api_key"; name: string };

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
      apiKeys: ApiKeyRegistry;
      accessTokens: AccessTokenVerifier;
      revocations: RevocationList;
      store: Store;
      limiter?: AuthRateLimiter;
    },
  ) {}

  async revoke(credentials: ClientCredentials, request: { token: string; tokenTypeHint?: string }): Promise<void> {
    const revoker = await this.authenticate(credentials);
    const hint = request.tokenTypeHint ?? "";
    if (!SUPPORTED_HINTS.has(hint)) throw unsupportedTokenType(`cannot revoke tokens of type "${hint.slice(0, 64)}"`);
    if (request.token.length === 0) throw invalidRequest("token is required");
    if (request.token.length > MAX_TOKEN_LENGTH) return;
    if (isGrantToken(request.token)) await this.revokeGrant(revoker, request.token);
    else await this.revokeAccessToken(revoker, request.token);
  }

  private async authenticate(credentials: ClientCredentials): Promise<Revoker> {
    if (presentedApiKey(credentials.authorization) !== undefined && !credentials.clientSecret && !credentials.clientAssertion) {
      const limits = this.deps.limiter && { limiter: this.deps.limiter, peer: credentials.peer };
      const key = await authenticateApiKey(this.deps.apiKeys, credentials.authorization, limits);
      return { kind: "api_key", name: key.name };
    }
    return this.deps.callers.authenticate(credentials, REVOKE_SCOPE, { changesState: true });
  }

  private async revokeAccessToken(revoker: Revoker, token: string): Promise<void> {
    const verified = this.deps.accessTokens.verify(token);
    if (!verified.ok) return;
    const { claims } = verified;
    const allowed = revoker.kind === "bearer" || (revoker.kind === "client" && revoker.client.id === claims.client_id);
    if (!allowed) return;
    await this.deps.revocations.revoke(claims.jti, claims.exp);
  }

  private async revokeGrant(revoker: Revoker, token: string): Promise<void> {
    const key = storeKeys.grant(tokenDigest(token));
    if (revoker.kind === "bearer") {
      await this.deps.store.del(key);
      return;
    }
    if (revoker.kind !== "api_key") return;
    const record = parseGrantRecord(await this.deps.store.get(key));
    if (record?.apiKey === revoker.name) await this.deps.store.del(key);
  }
}
