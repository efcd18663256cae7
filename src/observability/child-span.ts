import { context, SpanStatusCode, trace, type Attributes, type Tracer } from "@opentelemetry/api";

/**
 * Runs `operation` in a child span of the request being served, or bare when
 * no request span is recording: work outside a request (the feed follower's
 * polls, key maintenance), or started by one that has since ended (a timer
 * set during a request inherits its context), makes no orphan traces.
 * A failure marks the span with the error's class name only: messages can
 * carry what the operation was given.
 */
export function inChildSpan<T>(tracer: Tracer, name: string, attributes: Attributes, operation: () => Promise<T>): Promise<T> {
  const active = context.active();
  if (trace.getSpan(active)?.isRecording() !== true) return operation();
  const span = tracer.startSpan(name, { attributes }, active);
  let pending: Promise<T>;
  try {
    pending = operation();
  } catch (error) {
    pending = Promise.reject(error);
  }
  return pending.then(
    (result) => {
      span.end();
      return result;
    },
    (error: unknown) => {
      const type = error instanceof Error ? error.name : "Error";
      span.setAttribute("error.type", type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      span.end();
      throw error;
    },
  );
}
