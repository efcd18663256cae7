import { ConnectError } from "@connectrpc/connect";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";

/**
 * The OAuth 2.0 error code (RFC 6749 §5.2: "invalid_client", "invalid_scope",
 * …) that Tokensmith attaches to every RPC error as a tokensmith.v1.OAuthErrorDetail;
 * undefined when the error did not come from Tokensmith (a network failure).
 */
export function oauthErrorOf(error: unknown): string | undefined {
  return ConnectError.from(error).findDetails(OAuthErrorDetailSchema)[0]?.error || undefined;
}
