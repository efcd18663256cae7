import type { Metrics } from "../observability/metrics.js";
import { EvictionPolicyError } from "../store/eviction-policy.js";
import type { HttpRoute } from "./http-routes.js";
import { sendJson } from "./json-response.js";

/** What operations endpoints need to know about the instance. */
export interface Lifecycle {
  /** False once shutdown has begun. */
  accepting(): boolean;
  /** Resolves when the store answers and keeps what it is given; rejects otherwise. */
  storeReachable(): Promise<void>;
}

/**
 * `/healthz` (liveness: the process answers), `/readyz` (readiness: not
 * shutting down, the store answers and does not evict) and `/metrics` (Prometheus).
 */
export function operationsRoutes(deps: { lifecycle: Lifecycle; metrics: Metrics }): HttpRoute {
  return (req, res) => {
    const url = req.url ?? "";
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (url === "/healthz") {
      sendJson(res, 200, { status: "alive" }, { "cache-control": "no-store" });
      return true;
    }
    if (url === "/readyz") {
      if (!deps.lifecycle.accepting()) {
        sendJson(res, 503, { status: "shutting_down" }, { "cache-control": "no-store" });
        return true;
      }
      deps.lifecycle.storeReachable().then(
        () => sendJson(res, 200, { status: "ready" }, { "cache-control": "no-store" }),
        (error: unknown) =>
          sendJson(res, 503, { status: error instanceof EvictionPolicyError ? "store_evicts" : "store_unavailable" }, { "cache-control": "no-store", "retry-after": "1" }),
      );
      return true;
    }
    if (url === "/metrics") {
      deps.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": deps.metrics.registry.contentType, "cache-control": "no-store" });
          res.end(text);
        },
        () => sendJson(res, 500, { error: "server_error" }),
      );
      return true;
    }
    return false;
  };
}
