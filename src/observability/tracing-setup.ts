import { diag, DiagLogLevel, type Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import { packageVersion } from "../package-root.js";

/** The name spans and the resource carry unless OTEL_SERVICE_NAME says otherwise. */
export const TRACER_NAME = "tokensmith";

export interface Tracing {
  tracer: Tracer;
  /** Where the SDK's warnings and errors go from now on (a collector that refuses or cannot be reached), as warnings. */
  logTo(logger: Logger): void;
  /** Exports the spans still buffered, then stops the SDK; bounded by `timeoutMs` so a collector that is down cannot hold a shutdown. */
  shutdown(timeoutMs: number): Promise<void>;
}

const MAX_DIAGNOSTIC_LENGTH = 500;

/** The SDK reports a failed export as the error serialized to JSON, stack and all: `OTLPExporterError: Bad Request (400)` says it. */
function diagnostic(message: string): string {
  if (!message.startsWith("{")) return message;
  try {
    const error = JSON.parse(message) as { name?: unknown; message?: unknown; code?: unknown };
    if (typeof error.message !== "string") return message;
    return `${typeof error.name === "string" ? `${error.name}: ` : ""}${error.message}${error.code !== undefined ? ` (${String(error.code)})` : ""}`;
  } catch {
    return message;
  }
}

const isSet = (value: string | undefined) => value !== undefined && value.trim() !== "";

/**
 * Whether the process traces: the standard OTLP endpoint variables are set,
 * and neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none turns it off.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (!isSet(env.OTEL_EXPORTER_OTLP_ENDPOINT) && !isSet(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) return false;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  return env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() !== "none";
}

/**
 * Starts the OpenTelemetry SDK for this process: spans batched (OTEL_BSP_*)
 * and sent as OTLP/HTTP JSON to OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, W3C
 * trace context propagated, the sampler from OTEL_TRACES_SAMPLER (default:
 * parent-based, always on), the resource from OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES over service.name "tokensmith" and service.version
 * (package.json's). The SDK modules are
 * imported here, so a process that does not trace never loads them. Each
 * cluster worker calls this for itself.
 */
export async function startTracing(): Promise<Tracing> {
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { defaultResource, detectResources, envDetector, resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ "service.name": TRACER_NAME, "service.version": packageVersion(), "process.pid": process.pid }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  // Global: the AsyncLocalStorage context manager and the W3C traceparent/tracestate and baggage propagators.
  provider.register();
  return {
    tracer: provider.getTracer(TRACER_NAME, packageVersion()),
    logTo(logger) {
      // The message only: it says what failed (an export's HTTP status, a refused connection); never span data.
      const warn = (message: string) => logger.warn(`tracing: ${diagnostic(message).slice(0, MAX_DIAGNOSTIC_LENGTH)}`);
      const ignore = () => {};
      diag.setLogger({ error: warn, warn, info: ignore, debug: ignore, verbose: ignore }, DiagLogLevel.WARN);
    },
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        provider.shutdown().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
