import { MAX_TOKEN_LENGTH, type AccessTokenClaims, type AccessTokenSigner, type Actor } from "./access-token.js";
import type { ActiveAccessTokens } from "./active-access-tokens.js";
import type { ClientAuthenticator, ClientCredentials } from "./client-authenticator.js";
import { requireGrantType, TOKEN_EXCHANGE_GRANT, type Client } from "./client.js";
import { checkAudienceSyntax, chooseAudience, claimsIssuedNow, type IssuedAccessToken } from "./client-token-issuer.js";
import type { Clock } from "./clock.js";
import { invalidRequest, OAuthError } from "./oauth-error.js";
import { grantScopes } from "./scopes.js";
import type { TokenEvents } from "./token-events.js";
import type { TrustedIssuers } from "./trusted-issuers.js";

/** RFC 8693 §3 token type identifiers. */
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
/** What a subject or actor token may be said to be: a Tokensmith access token is both. */
const ACCEPTED_TOKEN_TYPES: readonly string[] = [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE];

/** How many exchanges a chain may have: each is one revocation lookup more for every check of its last token. */
export const MAX_EXCHANGE_DEPTH = 10;

export interface TokenExchangeRequest {
  subjectToken?: string;
  subjectTokenType?: string;
  actorToken?: string;
  actorTokenType?: string;
  requestedTokenType?: string;
  scopes: readonly string[];
  /** RFC 8693 `audience` and RFC 8707 `resource` values together: each becomes an `aud`. */
  audience: readonly string[];
}

export type ExchangedAccessToken = IssuedAccessToken & { issuedTokenType: typeof ACCESS_TOKEN_TYPE };

/** RFC 6749 §5.2 invalid_grant: the subject or actor token does not allow this exchange. */
export const invalidGrant = (description: string) => new OAuthError("invalid_grant", "permission_denied", description);

/**
 * OAuth 2.0 token exchange (RFC 8693) for delegation: the authenticated
 * client, registered for the grant type, presents an access token of this
 * tenant in force (the subject) and gets a token of its own for the
 * subject's `sub`. It never widens the subject: scopes within both the
 * subject's and the client's, a lifetime within the subject's remaining one
 * and the client's, an audience the client may target. The `act` claim
 * names the client, the subject's own `act` nested inside (§4.1), and
 * `parent_jti` the subject token.
 */
export class TokenExchanger {
  constructor(
    private readonly deps: {
      authenticator: ClientAuthenticator;
      activeTokens: ActiveAccessTokens;
      signer: AccessTokenSigner;
      issuer: string;
      clock: Clock;
      events: TokenEvents;
      /** External JWTs (trustedIssuers) as subject tokens of type jwt. */
      federation?: TrustedIssuers;
    },
  ) {}

  async exchange(credentials: ClientCredentials, request: TokenExchangeRequest): Promise<ExchangedAccessToken> {
    const subjectToken = checkTokenParameter("subject_token", request.subjectToken, request.subjectTokenType);
    const actorToken = request.actorToken || request.actorTokenType ? checkTokenParameter("actor_token", request.actorToken, request.actorTokenType) : undefined;
    if (request.requestedTokenType && request.requestedTokenType !== ACCESS_TOKEN_TYPE) {
      throw invalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}, the only type issued`);
    }
    const audienceRequested = checkAudienceSyntax(request.audience);
    const { client } = await this.deps.authenticator.authenticate(credentials);
    requireGrantType(client, TOKEN_EXCHANGE_GRANT);

    const [subject, actor] = await Promise.all([
      this.subjectOf(subjectToken, request.subjectTokenType as string),
      actorToken && this.inForce(actorToken, "actor_token"),
    ]);
    if (actor && (actor.client_id !== client.id || actor.sub !== client.id)) {
      throw invalidGrant("actor_token must be an access token of the authenticated client itself");
    }
    if (subject.may_act && subject.may_act.sub !== client.id && subject.may_act.client_id !== client.id) {
      throw invalidGrant("the subject token's may_act does not name this client");
    }

    const subjectScopes = new Set(subject.scopes);
    const scopes = grantScopes(request.scopes, client.scopes.filter((scope) => subjectScopes.has(scope)));
    const aud = chooseAudience(audienceRequested, client.audiences, this.deps.issuer);
    const claims = claimsIssuedNow(this.deps, client, { sub: subject.sub, aud, scopes, notAfter: subject.exp });
    if (claims.exp <= claims.iat) throw invalidGrant("the subject token expires too soon to exchange");
    claims.act = actingClient(client, subject.act);
    if (subject.chain !== undefined) {
      claims.parent_jti = subject.chain[subject.chain.length - 1];
      claims.ancestor_jtis = subject.chain;
      if (claims.ancestor_jtis.length > MAX_EXCHANGE_DEPTH) throw invalidGrant(`the subject token was exchanged ${MAX_EXCHANGE_DEPTH} times already: exchange an earlier one`);
    }
    const accessToken = await this.deps.signer.sign(claims);
    this.deps.events.tokenIssued("access_token");
    return { accessToken, issuedTokenType: ACCESS_TOKEN_TYPE, tokenType: "Bearer", expiresIn: claims.exp - claims.iat, scopes, claims };
  }

  /**
   * What the subject token stands for: a Tokensmith access token in force, or
   * (type jwt) a token of a trusted external issuer, whose subject may have
   * what the client it maps to may have; else invalid_grant.
   */
  private async subjectOf(token: string, type: string): Promise<Subject> {
    const federation = this.deps.federation;
    if (type === JWT_TOKEN_TYPE && federation !== undefined && (await federation.issued(token))) {
      const identity = await federation.identify(token);
      if (identity === undefined) throw invalidGrant("subject_token is not a valid token of a trusted issuer for a mapped subject");
      return { sub: identity.subject, scopes: identity.client.scopes, exp: identity.exp };
    }
    const claims = await this.inForce(token, "subject_token");
    return {
      sub: claims.sub,
      scopes: claims.scope === "" ? [] : claims.scope.split(" "),
      exp: claims.exp,
      act: claims.act,
      may_act: claims.may_act,
      chain: [...(claims.ancestor_jtis ?? []), claims.jti],
    };
  }

  /** The claims of a token of this tenant in force (signature, lifetime, revocation, its client), else invalid_grant. */
  private async inForce(token: string, parameter: string): Promise<AccessTokenClaims> {
    const claims = token.length > MAX_TOKEN_LENGTH ? undefined : await this.deps.activeTokens.check(token);
    if (claims === undefined) throw invalidGrant(`${parameter} is not an access token of this issuer in force (invalid, expired or revoked)`);
    return claims;
  }
}

/** A subject token, whoever issued it. */
interface Subject {
  sub: string;
  /** What the subject may have: a Tokensmith token's scopes, or the mapped client's for an external token. */
  scopes: readonly string[];
  exp: number;
  act?: Actor | undefined;
  may_act?: AccessTokenClaims["may_act"];
  /** A Tokensmith token's ancestors and its own jti (root first); none for an external token, which Tokensmith cannot revoke. */
  chain?: string[];
}

/** A token parameter and its type: both present, and the type one Tokensmith takes (RFC 8693 §2.1). */
function checkTokenParameter(name: string, token: string | undefined, type: string | undefined): string {
  if (!token) throw invalidRequest(`${name} is required`);
  if (!type) throw invalidRequest(`${name}_type is required with ${name}`);
  if (!ACCEPTED_TOKEN_TYPES.includes(type)) throw invalidRequest(`${name}_type must be ${ACCEPTED_TOKEN_TYPES.join(" or ")}`);
  return token;
}

/** The new token's `act`: the client, with whoever acted on the subject token before it inside (RFC 8693 §4.1). */
function actingClient(client: Client, previous: Actor | undefined): Actor {
  return previous === undefined ? { sub: client.id, client_id: client.id } : { sub: client.id, client_id: client.id, act: previous };
}
