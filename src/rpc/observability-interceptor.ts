import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { DescMethod } from "@bufbuild/protobuf";
import type { FailureLog } from "../app.js";
import type { Metrics } from "../observability/metrics.js";
import { toConnectError } from "./error-mapping.js";

/** Records one finished RPC: by method and final code, and its latency. */
export function recordRpc(metrics: Metrics, method: string, error: unknown, started: bigint): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (error === undefined) {
    metrics.request("rpc", method, "ok", seconds);
    return;
  }
  const code = error instanceof ConnectError ? (Code[error.code] ?? "Unknown") : "Unknown";
  metrics.request("rpc", method, code, seconds);
  if (error instanceof ConnectError && error.code === Code.Unavailable) metrics.storeError();
}

/** Counts every RPC by method and code and times it; runs outside the error mapping, so it sees final codes. */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (request) => {
    const started = process.hrtime.bigint();
    try {
      const response = await next(request);
      recordRpc(metrics, request.method.name, undefined, started);
      return response;
    } catch (error) {
      recordRpc(metrics, request.method.name, error, started);
      throw error;
    }
  };
}

/**
 * What the two interceptors above do together (error mapping inside, metrics
 * outside), for the unary fast path, which runs handlers without connect-node.
 */
export function observedCall(metrics: Metrics, log: FailureLog) {
  return async (method: DescMethod, requestId: string | undefined, call: () => Promise<unknown>): Promise<unknown> => {
    const started = process.hrtime.bigint();
    try {
      const response = await call();
      recordRpc(metrics, method.name, undefined, started);
      return response;
    } catch (error) {
      const mapped = toConnectError(error, log, requestId);
      recordRpc(metrics, method.name, mapped, started);
      throw mapped;
    }
  };
}
