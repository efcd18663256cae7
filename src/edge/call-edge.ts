import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { OAuthError } from "../domain/oauth-error.js";
import type { Metrics } from "../observability/metrics.js";
import type { StoreOutageLog } from "../observability/store-outage-log.js";
import type { RequestTracing } from "../observability/request-tracing.js";
import { StoreUnavailableError } from "../store/store.js";
import type { NodeRequest, NodeResponse, PeerOf } from "./node-http.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * What every call passes through, whichever way it came in (the unary fast
 * path, connect-node, the OAuth HTTP facade): its request id, its peer, the
 * turning of any failure into the domain's error, its metrics and its log
 * lines. The transports are thin adapters over this one object, so they
 * cannot drift apart (they did: the fast path once logged failures without
 * their request id).
 */
export class CallEdge {
  readonly logger: Logger;
  /** The caller's address: the socket's, or the one a trusted proxy forwarded. */
  readonly peerOf: PeerOf;
  /** The calls' spans; undefined when tracing is off, so a call pays one property read for it. */
  readonly tracing: RequestTracing | undefined;
  private readonly debug: boolean;

  constructor(private readonly deps: { logger: Logger; storeOutages: StoreOutageLog; metrics: Metrics; peerOf: PeerOf; tracing?: RequestTracing }) {
    this.logger = deps.logger;
    this.peerOf = deps.peerOf;
    this.tracing = deps.tracing;
    this.debug = deps.logger.isLevelEnabled("debug");
  }

  /**
   * Gives the request its id: the caller's X-Request-Id when well-formed, a
   * fresh one otherwise. It is set on the request, where every path reads
   * it (requestIdOf), and on the response.
   */
  admit(req: NodeRequest, res: NodeResponse): void {
    const presented = req.headers["x-request-id"];
    const requestId = typeof presented === "string" && REQUEST_ID.test(presented) ? presented : randomUUID();
    if (presented !== requestId) req.headers["x-request-id"] = requestId;
    res.setHeader("x-request-id", requestId);
    if (this.debug) {
      const started = process.hrtime.bigint();
      res.once("finish", () =>
        this.logger.debug(
          { reqId: requestId, peer: this.peerOf(req), method: req.method, path: (req.url ?? "").split("?")[0], status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 },
          "request",
        ),
      );
    }
  }

  /** The id admit() gave the request. */
  requestIdOf(req: NodeRequest): string | undefined {
    return req.headers["x-request-id"] as string | undefined;
  }

  /**
   * The one place where any failure becomes the domain's error: an
   * OAuthError stays as it is; the store being unreachable is `unavailable`
   * (logged through the outage log, never one line per request); anything
   * else is logged with the request id and shown only as "internal error".
   * The original error is kept as the cause, for the log only.
   */
  failure(error: unknown, requestId: string | null | undefined): OAuthError {
    if (error instanceof OAuthError) return error;
    if (error instanceof StoreUnavailableError) {
      this.deps.storeOutages.failed(requestId, error);
      return new OAuthError("temporarily_unavailable", "unavailable", "the token store is unavailable, try again shortly", {
        cause: error,
        retryAfterSeconds: 1,
      });
    }
    this.logger.error({ reqId: requestId, err: error }, "unexpected error");
    return new OAuthError("server_error", "internal", "internal error", { cause: error });
  }

  /** Records one finished call: by protocol, method and final code, its latency, and whether it failed for want of the store. */
  finished(protocol: "rpc" | "http", method: string, code: string, storeUnavailable: boolean, started: bigint): void {
    this.deps.metrics.request(protocol, method, code, Number(process.hrtime.bigint() - started) / 1e9);
    if (storeUnavailable) this.deps.metrics.storeError();
  }
}
