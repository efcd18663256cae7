import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { basicAuthorization, bearerAuthorization } from "./basic-authorization.js";
import { oauthErrorOf } from "./oauth-error.js";
import type { TokenClient } from "./token-client.js";

/** Milliseconds since the epoch; inject one to test expiry without waiting. */
export interface Clock {
  now(): number;
}

export interface AccessToken {
  accessToken: string;
  /** Always "Bearer". */
  tokenType: string;
  /** The scopes granted, which may be fewer than asked for only if none were asked for. */
  scopes: string[];
  /** When the token expires, by the source's clock (the moment the request was sent, plus expires_in). */
  expiresAt: number;
  /** When the source will fetch the next one. */
  refreshAt: number;
}

export interface ClientCredentialsTokenSourceOptions {
  /** A client from createTokenClient (Node or web). */
  client: TokenClient;
  clientId: string;
  clientSecret: string;
  /** Empty or absent: every scope the client may have. */
  scopes?: string[];
  /** Resource indicators (RFC 8707), which become the token's `aud`. */
  audience?: string[];
  clock?: Clock;
  /** A number in [0, 1) for the refresh jitter; tests pin it. */
  random?: () => number;
  /** Deadline of one token request. */
  timeoutMs?: number;
}

/** Fetching a token failed. `code` is the RPC status, `oauthError` the RFC 6749 §5.2 code when Tokensmith gave one. */
export class TokenSourceError extends Error {
  constructor(
    message: string,
    readonly code: Code,
    readonly oauthError: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TokenSourceError";
  }

  static from(error: unknown): TokenSourceError {
    const cause = ConnectError.from(error);
    return new TokenSourceError(`cannot get an access token: ${cause.rawMessage}`, cause.code, oauthErrorOf(cause), { cause });
  }
}

const MIN_REFRESH_MARGIN_MS = 30_000;
const REFRESH_MARGIN_FRACTION = 0.1;
const JITTER_FRACTION = 0.1;

/**
 * When to fetch the next token: once less than max(10% of the lifetime, 30 s)
 * remains, brought forward by a random jitter of up to 10% of the lifetime so
 * that a fleet started together does not refresh together. For lifetimes under
 * a minute the 30 s floor would leave no time to use the token, so the margin
 * never exceeds half of the lifetime.
 */
export function refreshTimeOf(obtainedAt: number, lifetimeMs: number, random: number): number {
  const margin = Math.min(Math.max(lifetimeMs * REFRESH_MARGIN_FRACTION, MIN_REFRESH_MARGIN_MS), lifetimeMs / 2);
  const jitter = Math.min(Math.max(random, 0), 1) * lifetimeMs * JITTER_FRACTION;
  return obtainedAt + lifetimeMs - margin - jitter;
}

/**
 * An access token for one client (OAuth 2.0 client credentials, by the
 * IssueClientToken RPC with the secret in a Basic header), cached and renewed
 * before it expires. Concurrent callers share one request. A failed renewal
 * rejects every caller waiting for it with a TokenSourceError; the next call
 * tries again.
 */
export class ClientCredentialsTokenSource {
  private current: AccessToken | undefined;
  private inFlight: Promise<AccessToken> | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly authorization: string;

  constructor(private readonly options: ClientCredentialsTokenSourceOptions) {
    if (!options.clientId) throw new TypeError("ClientCredentialsTokenSource needs a clientId");
    if (!options.clientSecret) throw new TypeError("ClientCredentialsTokenSource needs a clientSecret");
    this.clock = options.clock ?? { now: () => Date.now() };
    this.random = options.random ?? Math.random;
    this.authorization = basicAuthorization(options.clientId, options.clientSecret);
  }

  /** The access token to send as `Bearer`. */
  async getToken(): Promise<string> {
    return (await this.getAccessToken()).accessToken;
  }

  /** The cached token while it is fresh; otherwise the one request under way, or a new one. */
  getAccessToken(): Promise<AccessToken> {
    const current = this.current;
    if (current !== undefined && this.clock.now() < current.refreshAt) return Promise.resolve(current);
    this.inFlight ??= this.fetch().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Forgets the cached token, e.g. after a resource server refused it; the next call fetches a new one. */
  invalidate(): void {
    this.current = undefined;
  }

  private async fetch(): Promise<AccessToken> {
    const startedAt = this.clock.now();
    let response;
    try {
      response = await this.options.client.issueClientToken(
        { scopes: this.options.scopes ?? [], audience: this.options.audience ?? [] },
        { headers: { authorization: this.authorization }, timeoutMs: this.options.timeoutMs ?? 10_000 },
      );
    } catch (error) {
      throw TokenSourceError.from(error);
    }
    const token = accessTokenOf(response, startedAt, this.random());
    this.current = token;
    return token;
  }
}

/** A response carrying an access token (IssueClientToken's, ExchangeToken's) as an AccessToken, timed from `startedAt`. */
export function accessTokenOf(
  response: { accessToken: string; tokenType: string; scopes: string[]; expiresIn: bigint },
  startedAt: number,
  random: number,
): AccessToken {
  const lifetimeMs = Number(response.expiresIn) * 1000;
  if (!response.accessToken || !(lifetimeMs > 0)) {
    throw new TokenSourceError("cannot get an access token: the response has no token or no lifetime", Code.Internal, undefined);
  }
  return {
    accessToken: response.accessToken,
    tokenType: response.tokenType,
    scopes: response.scopes,
    expiresAt: startedAt + lifetimeMs,
    refreshAt: refreshTimeOf(startedAt, lifetimeMs, random),
  };
}

/** Anything that gives a current access token: ClientCredentialsTokenSource, TokenExchangeSource. */
export interface TokenSource {
  getToken(): Promise<string>;
}

/** Sends `authorization: Bearer <token>` from the source on every call that has no authorization of its own. */
export function bearerTokenInterceptor(source: TokenSource): Interceptor {
  return (next) => async (request) => {
    if (!request.header.has("authorization")) request.header.set("authorization", bearerAuthorization(await source.getToken()));
    return next(request);
  };
}
