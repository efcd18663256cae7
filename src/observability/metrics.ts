import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type Labelled<T> = Map<string, T>;

/**
 * Prometheus metrics for one Tokensmith instance (its own Registry, so tests
 * can run several in one process). Label children are created once and
 * reused: no per-request allocation on the hot path. No label ever carries a
 * secret, a token or a client id.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"protocol" | "method" | "code">;
  private readonly latency: Histogram<"protocol" | "method">;
  private readonly issued: Counter<"kind">;
  private readonly revocations: Counter;
  private readonly storeErrors: Counter;
  private readonly rateLimited: Counter<"kind">;
  private readonly rateLimitFallbacks: Counter;
  private readonly requestChildren: Labelled<Counter.Internal> = new Map();
  private readonly latencyChildren: Labelled<Histogram.Internal<"protocol" | "method">> = new Map();

  constructor(options: { signingKeyAges?: () => Array<{ kid: string; ageSeconds: number }>; defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "tokensmith_requests_total",
      help: "Requests by protocol (rpc or http), method (RPC name or OAuth endpoint) and result code",
      labelNames: ["protocol", "method", "code"],
      registers,
    });
    this.latency = new Histogram({
      name: "tokensmith_request_duration_seconds",
      help: "Request latency by protocol and method",
      labelNames: ["protocol", "method"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.issued = new Counter({ name: "tokensmith_tokens_issued_total", help: "Tokens issued, by kind", labelNames: ["kind"], registers });
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
      counter = this.requests.labels(protocol, method, code);
      this.requestChildren.set(requestKey, counter);
    }
    counter.inc();
    const latencyKey = `${protocol}|${method}`;
    let histogram = this.latencyChildren.get(latencyKey);
    if (histogram === undefined) {
      histogram = this.latency.labels(protocol, method);
      this.latencyChildren.set(latencyKey, histogram);
    }
    histogram.observe(seconds);
  }

  tokenIssued(kind: "access_token" | "grant"): void {
    this.issued.labels(kind).inc();
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

  fellBackToLocal(): void {
    this.rateLimitFallbacks.inc();
  }
}
