/** What both entries (Node and browser) export besides their own createTokenClient. */
export type { TokenClient, CommonTokenClientOptions } from "./token-client.js";
export { authorizationInterceptor } from "./token-client.js";
export { basicAuthorization, bearerAuthorization } from "./basic-authorization.js";
export { oauthErrorOf } from "./oauth-error.js";
export {
  ClientCredentialsTokenSource,
  TokenSourceError,
  bearerTokenInterceptor,
  refreshTimeOf,
  type AccessToken,
  type ClientCredentialsTokenSourceOptions,
  type Clock,
  type TokenSource,
} from "./token-source.js";
export {
  exchangeToken,
  TokenExchangeSource,
  ACCESS_TOKEN_TYPE,
  type ExchangeTokenOptions,
  type ExchangedToken,
  type SubjectTokenProvider,
  type TokenExchangeSourceOptions,
} from "./token-exchange.js";
export { TokenService, OAuthErrorDetailSchema, type OAuthErrorDetail } from "../../gen/tokensmith/v1/token_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
