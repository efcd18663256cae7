import { randomId } from "./random-id.js";
import type { AccessTokenClaims, AccessTokenSigner } from "./access-token.js";
import type { ClientAuthenticator, ClientCredentials } from "./client-authenticator.js";
import type { Clock } from "./clock.js";
import { requireGrantType, type Client } from "./client.js";
import { invalidRequest, invalidTarget } from "./oauth-error.js";
import { grantScopes } from "./scopes.js";
import type { TokenEvents } from "./token-events.js";

export interface ClientTokenRequest {
  scopes: readonly string[];
  /** RFC 8707 resource indicators. */
  audience: readonly string[];
}

export interface IssuedAccessToken {
  accessToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  scopes: string[];
  claims: AccessTokenClaims;
}

const MAX_AUDIENCES = 20;
const MAX_AUDIENCE_LENGTH = 512;

/** OAuth 2.0 client credentials grant (RFC 6749 §4.4) issuing RFC 9068 JWTs. */
export class ClientTokenIssuer {
  constructor(
    private readonly deps: {
      authenticator: ClientAuthenticator;
      signer: AccessTokenSigner;
      issuer: string;
      clock: Clock;
      events: TokenEvents;
    },
  ) {}

  async issue(credentials: ClientCredentials, request: ClientTokenRequest): Promise<IssuedAccessToken> {
    const audienceRequested = checkAudienceSyntax(request.audience);
    const { client } = await this.deps.authenticator.authenticate(credentials);
    requireGrantType(client, "client_credentials");
    const scopes = grantScopes(request.scopes, client.scopes);
    const aud = chooseAudience(audienceRequested, client.audiences, this.deps.issuer);
    const claims = claimsIssuedNow(this.deps, client, { sub: client.id, aud, scopes });
    const accessToken = await this.deps.signer.sign(claims);
    this.deps.events.tokenIssued("access_token");
    return {
      accessToken,
      tokenType: "Bearer",
      expiresIn: client.tokenLifetimeSeconds,
      scopes,
      claims,
    };
  }
}

/**
 * The claims of an access token issued to `client` now, for `sub`: its
 * lifetime is the client's, cut to `notAfter` (seconds) when given.
 */
export function claimsIssuedNow(
  deps: { issuer: string; clock: Clock },
  client: Client,
  grant: { sub: string; aud: string[]; scopes: readonly string[]; notAfter?: number },
): AccessTokenClaims {
  // Never before the client's creation (a recreated id starts in a later second than its predecessor's tokens).
  const issuedAtMs = Math.max(deps.clock.now(), client.createdAt ?? 0);
  const iat = Math.floor(issuedAtMs / 1000);
  const exp = iat + client.tokenLifetimeSeconds;
  return {
    iss: deps.issuer,
    sub: grant.sub,
    client_id: client.id,
    aud: grant.aud.length === 1 ? (grant.aud[0] as string) : grant.aud,
    scope: grant.scopes.join(" "),
    iat,
    exp: grant.notAfter === undefined ? exp : Math.min(exp, grant.notAfter),
    jti: randomId(),
    iat_ms: issuedAtMs,
  };
}

export function checkAudienceSyntax(audience: readonly string[]): string[] {
  if (audience.length > MAX_AUDIENCES) throw invalidRequest(`too many audiences: at most ${MAX_AUDIENCES}`);
  for (const value of audience) {
    if (value.length === 0 || value.length > MAX_AUDIENCE_LENGTH || /\s/.test(value)) {
      throw invalidRequest("malformed audience: each must be a non-empty URI or name without spaces");
    }
  }
  return [...new Set(audience)];
}

/**
 * Requested audiences must be registered on the client (as in Hydra). None
 * requested: the client's registered audiences, or the issuer itself when it
 * has none, since RFC 9068 requires an `aud`.
 */
export function chooseAudience(requested: string[], allowed: readonly string[], issuer: string): string[] {
  if (requested.length === 0) return allowed.length > 0 ? [...allowed] : [issuer];
  const allowedSet = new Set(allowed);
  const refused = requested.filter((value) => !allowedSet.has(value));
  if (refused.length > 0) throw invalidTarget(`audience not allowed for this client: ${refused.join(" ")}`);
  return requested;
}
