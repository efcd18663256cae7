import { context, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";

/** Marks `span` failed with `type` (error.type and an error status), never with a message: messages can carry what the operation was given. */
export function markFailed(span: Span, type: string): void {
  span.setAttribute("error.type", type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/** What a failure is called in a span: the error's class name only. */
export const errorType = (error: unknown): string => (error instanceof Error ? error.name : "Error");

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
      markFailed(span, errorType(error));
      span.end();
      throw error;
    },
  );
}
