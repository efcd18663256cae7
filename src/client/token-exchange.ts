import type { CallOptions } from "@connectrpc/connect";
import { basicAuthorization } from "./basic-authorization.js";
import type { TokenClient } from "./token-client.js";
import { accessTokenOf, TokenSourceError, type AccessToken, type Clock, type TokenSource } from "./token-source.js";

/** RFC 8693 §3: what a Tokensmith access token is, as a subject or actor token, and what the exchange issues. */
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

export interface ExchangeTokenOptions {
  /** The access token to trade (RFC 8693 subject_token): a Tokensmith access token of the same tenant. */
  subjectToken: string;
  /** Default urn:ietf:params:oauth:token-type:access_token; urn:ietf:params:oauth:token-type:jwt is accepted too. */
  subjectTokenType?: string;
  /** Optional: an access token of the acting client itself. */
  actorToken?: string;
  /** Default urn:ietf:params:oauth:token-type:access_token when actorToken is given. */
  actorTokenType?: string;
  /** Each in both the subject token and the client's scopes; empty or absent: all of those. */
  scopes?: string[];
  /** Audiences or resource URIs the client may target; they become `aud`. Absent: the client's registered audiences. */
  audience?: string[];
  /** The client's credentials, sent as a Basic header; absent: whatever the client sends (createTokenClient's `authorization`). */
  clientId?: string;
  clientSecret?: string;
  /** Deadline of the call. */
  timeoutMs?: number;
}

export interface ExchangedToken {
  accessToken: string;
  /** urn:ietf:params:oauth:token-type:access_token */
  issuedTokenType: string;
  /** Always "Bearer". */
  tokenType: string;
  /** Seconds: at most the subject token's remaining lifetime and the client's. */
  expiresIn: number;
  scopes: string[];
}

/**
 * OAuth 2.0 token exchange (RFC 8693) by the ExchangeToken RPC: the client
 * trades a subject's access token for one of its own acting for that
 * subject, within its scopes. A refusal rejects with the RPC's ConnectError
 * (`oauthErrorOf` gives its OAuth error: unauthorized_client, invalid_grant,
 * invalid_scope, invalid_target, invalid_request, invalid_client).
 */
export async function exchangeToken(client: TokenClient, options: ExchangeTokenOptions): Promise<ExchangedToken> {
  const response = await client.exchangeToken(exchangeRequestOf(options), callOptionsOf(options, authorizationOf(options)));
  return {
    accessToken: response.accessToken,
    issuedTokenType: response.issuedTokenType,
    tokenType: response.tokenType,
    expiresIn: Number(response.expiresIn),
    scopes: response.scopes,
  };
}

/** The current subject token: fixed, asked of another TokenSource, or given by a function each time. */
export type SubjectTokenProvider = string | TokenSource | (() => string | Promise<string>);

export interface TokenExchangeSourceOptions extends Omit<ExchangeTokenOptions, "subjectToken" | "actorToken" | "timeoutMs"> {
  /** A client from createTokenClient (Node or web). */
  client: TokenClient;
  /** Asked on every getToken(); a token other than the one last exchanged is exchanged anew. */
  subjectToken: SubjectTokenProvider;
  /** Optional, as subjectToken (e.g. the client's own ClientCredentialsTokenSource). */
  actorToken?: SubjectTokenProvider;
  clock?: Clock;
  /** A number in [0, 1) for the refresh jitter; tests pin it. */
  random?: () => number;
  /** Deadline of one exchange. */
  timeoutMs?: number;
}

/**
 * A token exchanged for the current subject token (RFC 8693, by the
 * ExchangeToken RPC), cached and renewed like ClientCredentialsTokenSource's:
 * before it expires (refreshTimeOf), and whenever the subject token is not
 * the one it was exchanged for. Concurrent callers for one subject share one
 * request. A failed exchange rejects its callers with a TokenSourceError; a
 * subject (or actor) source's own TokenSourceError is passed on as it is.
 */
export class TokenExchangeSource implements TokenSource {
  private current: { subjectToken: string; token: AccessToken } | undefined;
  private inFlight: { subjectToken: string; token: Promise<AccessToken> } | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly authorization: string | undefined;

  constructor(private readonly options: TokenExchangeSourceOptions) {
    if (options.subjectToken === "" || options.subjectToken === undefined) throw new TypeError("TokenExchangeSource needs a subjectToken");
    if (Boolean(options.clientId) !== Boolean(options.clientSecret)) throw new TypeError("TokenExchangeSource needs both a clientId and a clientSecret, or neither");
    this.clock = options.clock ?? { now: () => Date.now() };
    this.random = options.random ?? Math.random;
    this.authorization = authorizationOf(options);
  }

  /** The access token to send as `Bearer`. */
  async getToken(): Promise<string> {
    return (await this.getAccessToken()).accessToken;
  }

  /** The cached token while it is fresh and for the current subject; otherwise the exchange under way for it, or a new one. */
  async getAccessToken(): Promise<AccessToken> {
    const subjectToken = await tokenOf(this.options.subjectToken);
    const current = this.current;
    if (current !== undefined && current.subjectToken === subjectToken && this.clock.now() < current.token.refreshAt) return current.token;
    if (this.inFlight?.subjectToken !== subjectToken) {
      const inFlight = {
        subjectToken,
        token: this.exchange(subjectToken).finally(() => {
          if (this.inFlight === inFlight) this.inFlight = undefined;
        }),
      };
      this.inFlight = inFlight;
    }
    return this.inFlight.token;
  }

  /** Forgets the cached token, e.g. after a resource server refused it; the next call exchanges again. */
  invalidate(): void {
    this.current = undefined;
  }

  private async exchange(subjectToken: string): Promise<AccessToken> {
    const actorToken = this.options.actorToken === undefined ? undefined : await tokenOf(this.options.actorToken);
    const startedAt = this.clock.now();
    let response;
    try {
      response = await this.options.client.exchangeToken(
        exchangeRequestOf({ ...this.options, subjectToken, actorToken }),
        callOptionsOf({ timeoutMs: this.options.timeoutMs ?? 10_000 }, this.authorization),
      );
    } catch (error) {
      throw TokenSourceError.from(error);
    }
    const token = accessTokenOf(response, startedAt, this.random());
    this.current = { subjectToken, token };
    return token;
  }
}

/** The token a provider gives now; a failure other than a TokenSourceError becomes one. */
async function tokenOf(provider: SubjectTokenProvider): Promise<string> {
  try {
    if (typeof provider === "string") return provider;
    return typeof provider === "function" ? await provider() : await provider.getToken();
  } catch (error) {
    throw error instanceof TokenSourceError ? error : TokenSourceError.from(error);
  }
}

function exchangeRequestOf(options: Omit<ExchangeTokenOptions, "actorToken"> & { actorToken?: string | undefined }) {
  return {
    subjectToken: options.subjectToken,
    subjectTokenType: options.subjectTokenType ?? ACCESS_TOKEN_TYPE,
    actorToken: options.actorToken ?? "",
    actorTokenType: options.actorToken ? (options.actorTokenType ?? ACCESS_TOKEN_TYPE) : "",
    scopes: options.scopes ?? [],
    audience: options.audience ?? [],
  };
}

function authorizationOf(options: Pick<ExchangeTokenOptions, "clientId" | "clientSecret">): string | undefined {
  return options.clientId && options.clientSecret ? basicAuthorization(options.clientId, options.clientSecret) : undefined;
}

function callOptionsOf(options: Pick<ExchangeTokenOptions, "timeoutMs">, authorization: string | undefined): CallOptions {
  return {
    ...(authorization === undefined ? {} : { headers: { authorization } }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  };
}
