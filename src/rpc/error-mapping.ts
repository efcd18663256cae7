import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { FailureKind, OAuthErrorCode } from "../domain/oauth-error.js";
import type { CallEdge } from "../edge/call-edge.js";

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

/**
 * Any failure as a ConnectError with the right code and an OAuthErrorDetail;
 * never leaks internals. Errors raised by Connect itself (a malformed
 * message, a deadline) keep their code; everything else is the edge's.
 */
export function toConnectError(error: unknown, edge: CallEdge, requestId: string | null | undefined): ConnectError {
  if (error instanceof ConnectError) {
    if (error.findDetails(OAuthErrorDetailSchema).length > 0) return error;
    const oauthCode = OAUTH_CODE_OF[error.code];
    return oauthCode === undefined ? error : connectError(error.rawMessage, error.code, oauthCode, error);
  }
  const failure = edge.failure(error, requestId);
  return connectError(failure.description, CODE_OF[failure.kind], failure.error, error, failure.retryAfterSeconds);
}

/**
 * connect-node's adapter over the edge's error mapping. A server stream's
 * handler runs as its messages are read, after `next` has returned, so its
 * errors are mapped as they come out of the message iterable.
 */
export function errorMappingInterceptor(edge: CallEdge): Interceptor {
  return (next) => async (request) => {
    const requestId = request.header.get("x-request-id");
    try {
      const response = await next(request);
      if (!response.stream) return response;
      const { service, method, header, trailer } = response;
      return { stream: true, service, method, header, trailer, message: mappingErrors(response.message, edge, requestId) };
    } catch (error) {
      throw toConnectError(error, edge, requestId);
    }
  };
}

async function* mappingErrors<T>(messages: AsyncIterable<T>, edge: CallEdge, requestId: string | null): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw toConnectError(error, edge, requestId);
  }
}
