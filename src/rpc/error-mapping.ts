import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { FailureLog } from "../app.js";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { OAuthError, type FailureKind, type OAuthErrorCode } from "../domain/oauth-error.js";
import { StoreUnavailableError } from "../store/store.js";

const CODE_OF: Record<FailureKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/** The OAuth error code callers can branch on, for errors raised by Connect itself. */
const OAUTH_CODE_OF: Partial<Record<Code, OAuthErrorCode>> = {
  [Code.InvalidArgument]: "invalid_request",
  [Code.Unauthenticated]: "invalid_client",
  [Code.PermissionDenied]: "access_denied",
  [Code.Unavailable]: "temporarily_unavailable",
  [Code.ResourceExhausted]: "slow_down",
};

function connectError(message: string, code: Code, error: OAuthErrorCode, cause: unknown, retryAfterSeconds?: number): ConnectError {
  const metadata = retryAfterSeconds === undefined ? undefined : { "retry-after": String(retryAfterSeconds) };
  const detail = { desc: OAuthErrorDetailSchema, value: create(OAuthErrorDetailSchema, { error, errorDescription: message }) };
  return new ConnectError(message, code, metadata, [detail], cause);
}

/** Maps any failure to a ConnectError with the right code and an OAuthErrorDetail; never leaks internals. */
export function toConnectError(error: unknown, log: FailureLog, requestId?: string | null): ConnectError {
  if (error instanceof OAuthError) {
    return connectError(error.description, CODE_OF[error.kind], error.error, error, error.retryAfterSeconds);
  }
  if (error instanceof StoreUnavailableError) {
    log.storeOutages.failed(requestId, error);
    return connectError("the token store is unavailable, try again shortly", Code.Unavailable, "temporarily_unavailable", error, 1);
  }
  if (error instanceof ConnectError) {
    if (error.findDetails(OAuthErrorDetailSchema).length > 0) return error;
    const oauthCode = OAUTH_CODE_OF[error.code];
    return oauthCode === undefined ? error : connectError(error.rawMessage, error.code, oauthCode, error);
  }
  log.logger.error({ reqId: requestId, err: error }, "unexpected error");
  return connectError("internal error", Code.Internal, "server_error", error);
}

/** The single place where domain failures become RPC errors. */
export function errorMappingInterceptor(log: FailureLog): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      throw toConnectError(error, log, request.header.get("x-request-id"));
    }
  };
}
