import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { DescMethod } from "@bufbuild/protobuf";
import type { CallEdge } from "../edge/call-edge.js";
import type { NodeRequest } from "../edge/node-http.js";
import { toConnectError } from "./error-mapping.js";

/** Records one finished RPC at the edge, by its final Connect code (and on its span, when tracing). */
function recordRpc(edge: CallEdge, method: string, error: unknown, started: bigint): void {
  edge.tracing?.rpcFinished(error);
  if (error === undefined) {
    edge.finished("rpc", method, "ok", false, started);
    return;
  }
  const code = error instanceof ConnectError ? (Code[error.code] ?? "Unknown") : "Unknown";
  edge.finished("rpc", method, code, error instanceof ConnectError && error.code === Code.Unavailable, started);
}

/** connect-node's adapter over the edge's metrics; runs outside the error mapping, so it sees final codes. */
export function metricsInterceptor(edge: CallEdge): Interceptor {
  return (next) => async (request) => {
    const started = process.hrtime.bigint();
    try {
      const response = await next(request);
      recordRpc(edge, request.method.name, undefined, started);
      return response;
    } catch (error) {
      recordRpc(edge, request.method.name, error, started);
      throw error;
    }
  };
}

/**
 * What the two interceptors do together (error mapping inside, metrics
 * outside), for the unary fast path, which runs handlers without connect-node.
 */
export function observedCall(edge: CallEdge) {
  return async (method: DescMethod, req: NodeRequest, call: () => Promise<unknown>): Promise<unknown> => {
    const started = process.hrtime.bigint();
    try {
      const response = await call();
      recordRpc(edge, method.name, undefined, started);
      return response;
    } catch (error) {
      const mapped = toConnectError(error, edge, edge.requestIdOf(req));
      recordRpc(edge, method.name, mapped, started);
      throw mapped;
    }
  };
}
