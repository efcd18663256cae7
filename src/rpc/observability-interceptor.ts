import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Metrics } from "../observability/metrics.js";

const ISSUING = new Map([
  ["IssueClientToken", "access_token"],
  ["IssueGrant", "grant"],
  ["IssueExternalAuthGrant", "grant"],
] as const);

/** Counts every RPC by method and code and times it; runs outside the error mapping, so it sees final codes. */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (request) => {
    const started = process.hrtime.bigint();
    const method = request.method.name;
    try {
      const response = await next(request);
      metrics.request("rpc", method, "ok", Number(process.hrtime.bigint() - started) / 1e9);
      const kind = ISSUING.get(method as never);
      if (kind !== undefined) metrics.tokenIssued(kind);
      else if (method === "Revoke") metrics.revoked();
      return response;
    } catch (error) {
      const code = error instanceof ConnectError ? Code[error.code] : "Unknown";
      metrics.request("rpc", method, code ?? "Unknown", Number(process.hrtime.bigint() - started) / 1e9);
      if (error instanceof ConnectError && error.code === Code.Unavailable) metrics.storeError();
      throw error;
    }
  };
}
