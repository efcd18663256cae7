import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { IssuedKind, TokenEvents } from "../domain/token-events.js";
import { SESSION_REFUSALS, type SessionRefusal } from "../http2-session-guard.js";
import { LabelledCounter, LabelledHistogram, type CounterSeries, type HistogramSeries } from "./labelled-series.js";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type Labelled<T> = Map<string, T>;

/**
 * Prometheus metrics for one Tokensmith instance (its own Registry, so tests
 * can run several in one process). Label children are created once and
 * reused: no per-request allocation on the hot path. No label ever carries a
 * secret, a token or a client id.
 */
export class Metrics implements TokenEvents {
  readonly registry = new Registry();
  private readonly requests: LabelledCounter<"protocol" | "method" | "code">;
  private readonly latency: LabelledHistogram<"protocol" | "method">;
  private readonly issued: LabelledCounter<"kind">;
  private readonly revocations: Counter;
  private readonly storeErrors: Counter;
  private readonly rateLimited: Counter<"kind">;
  private readonly rateLimitFallbacks: Counter;
  private readonly sessionsRefused: Counter<"reason">;
  private readonly watchers: Gauge;
  private readonly watchMessages: Counter<"kind">;
  private readonly requestChildren: Labelled<CounterSeries<"protocol" | "method" | "code">> = new Map();
  private readonly latencyChildren: Labelled<HistogramSeries<"protocol" | "method">> = new Map();
  private readonly issuedChildren: Labelled<CounterSeries<"kind">> = new Map();

  constructor(
    options: { signingKeyAges?: () => Array<{ kid: string; ageSeconds: number }>; http2Sessions?: () => number; defaultMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    this.requests = new LabelledCounter(
      "tokensmith_requests_total",
      "Requests by protocol (rpc or http), method (RPC name or OAuth endpoint) and result code",
      ["protocol", "method", "code"],
      this.registry,
    );
    this.latency = new LabelledHistogram(
      "tokensmith_request_duration_seconds",
      "Request latency by protocol and method",
      ["protocol", "method"],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.issued = new LabelledCounter("tokensmith_tokens_issued_total", "Tokens issued, by kind", ["kind"], this.registry);
    this.revocations = new Counter({ name: "tokensmith_revocations_total", help: "Revoke requests answered with success", registers });
    this.storeErrors = new Counter({ name: "tokensmith_store_errors_total", help: "Requests that failed because the store was unavailable", registers });
    this.rateLimited = new Counter({
      name: "tokensmith_rate_limited_total",
      help: "Requests refused by a limit: failed authentications per peer or subject, introspections per caller",
      labelNames: ["kind"],
      registers,
    });
    this.rateLimitFallbacks = new Counter({
      name: "tokensmith_rate_limit_local_fallback_total",
      help: "Failed-authentication counts kept in process because the store was unavailable",
      registers,
    });
    this.sessionsRefused = new Counter({
      name: "tokensmith_http2_sessions_refused_total",
      help: "HTTP/2 sessions refused or ended with GOAWAY ENHANCE_YOUR_CALM: over the total or per-peer cap, or rapid reset",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of SESSION_REFUSALS) this.sessionsRefused.labels(reason).inc(0);
    this.watchers = new Gauge({ name: "tokensmith_revocation_watchers", help: "WatchRevocations streams open now", registers });
    this.watchMessages = new Counter({
      name: "tokensmith_revocation_watch_messages_total",
      help: "WatchRevocations messages sent, by kind: snapshot, event, heartbeat",
      labelNames: ["kind"],
      registers,
    });
    const openSessions = options.http2Sessions;
    if (openSessions !== undefined) {
      new Gauge({
        name: "tokensmith_http2_sessions",
        help: "HTTP/2 sessions open now (h2c and h2)",
        registers,
        collect() {
          this.set(openSessions());
        },
      });
    }
    const ages = options.signingKeyAges;
    if (ages !== undefined) {
      new Gauge({
        name: "tokensmith_signing_key_age_seconds",
        help: "Age of each published signing key",
        labelNames: ["kid"],
        registers,
        collect() {
          this.reset();
          for (const key of ages()) this.labels(key.kid).set(key.ageSeconds);
        },
      });
    }
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "tokensmith_" });
  }

  /** Records one finished request. */
  request(protocol: "rpc" | "http", method: string, code: string, seconds: number): void {
    const requestKey = `${protocol}|${method}|${code}`;
    let counter = this.requestChildren.get(requestKey);
    if (counter === undefined) {
      counter = this.requests.child({ protocol, method, code });
      this.requestChildren.set(requestKey, counter);
    }
    counter.value += 1;
    const latencyKey = `${protocol}|${method}`;
    let histogram = this.latencyChildren.get(latencyKey);
    if (histogram === undefined) {
      histogram = this.latency.child({ protocol, method });
      this.latencyChildren.set(latencyKey, histogram);
    }
    this.latency.observe(histogram, seconds);
  }

  tokenIssued(kind: IssuedKind): void {
    let counter = this.issuedChildren.get(kind);
    if (counter === undefined) {
      counter = this.issued.child({ kind });
      this.issuedChildren.set(kind, counter);
    }
    counter.value += 1;
  }

  revoked(): void {
    this.revocations.inc();
  }

  storeError(): void {
    this.storeErrors.inc();
  }

  limited(kind: "peer" | "subject" | "caller"): void {
    this.rateLimited.labels(kind).inc();
  }

  http2SessionRefused(reason: SessionRefusal): void {
    this.sessionsRefused.labels(reason).inc();
  }

  watcherOpened(): void {
    this.watchers.inc();
  }

  watcherClosed(): void {
    this.watchers.dec();
  }

  watchMessageSent(kind: "snapshot" | "event" | "heartbeat"): void {
    this.watchMessages.labels(kind).inc();
  }

  fellBackToLocal(): void {
    this.rateLimitFallbacks.inc();
  }
}
