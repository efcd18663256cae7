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
} from "./token-source.js";
export { TokenService, OAuthErrorDetailSchema, type OAuthErrorDetail } from "../../gen/tokensmith/v1/token_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
