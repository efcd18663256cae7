import { lookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { FetchImplementation } from "jose";
import { context, propagation, SpanKind, trace, type Span } from "@opentelemetry/api";
import { errorType, markFailed } from "../observability/child-span.js";
import { TRACER_NAME } from "../observability/tracing-setup.js";
import { checkJwksAddress, checkJwksUri, hostAddress, JwksUriError, type JwksUriPolicy } from "../domain/jwks-uri-policy.js";

export interface JwksUriFetchLimits {
  /** The largest JWK Set read; the fetch is aborted as soon as the body passes it. */
  maxBytes: number;
  /** The whole fetch (DNS, connect, TLS, headers, body). */
  timeoutMs: number;
  /** After a failed fetch, the same URI is not fetched again for this long. */
  failureCooldownMs: number;
  /** Extra trusted certificates (tests with a self-signed key server); default: Node's trust store. */
  ca?: string | Buffer;
}

export const DEFAULT_JWKS_URI_FETCH_LIMITS: JwksUriFetchLimits = { maxBytes: 64 * 1024, timeoutMs: 2000, failureCooldownMs: 30_000 };

/**
 * Fetches a client's JWK Set as jose's createRemoteJWKSet would, but safe to
 * aim at any URL an administrator registered: the policy is checked on the
 * URI and again on every address its host resolves to, and the connection
 * goes to the address that was checked (so DNS rebinding cannot swap it);
 * redirects are refused; the body is capped while it is read; the whole fetch
 * has a deadline. A failed URI is not fetched again during the cooldown, so
 * repeated assertions naming it cost nothing.
 */
export function createJwksUriFetch(policy: JwksUriPolicy, limits: JwksUriFetchLimits = DEFAULT_JWKS_URI_FETCH_LIMITS, now = Date.now): FetchImplementation {
  const failedAt = new Map<string, number>();
  return async (uri, options) => {
    const failed = failedAt.get(uri);
    if (failed !== undefined && now() - failed < limits.failureCooldownMs) {
      throw new JwksUriError("jwks_uri failed a moment ago; it is not fetched again until the cooldown ends");
    }
    const signal = AbortSignal.any([options.signal, AbortSignal.timeout(limits.timeoutMs)]);
    try {
      const body = await fetchOnce(checkJwksUri(uri, policy), policy, limits, signal);
      failedAt.delete(uri);
      return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
    } catch (error) {
      failedAt.set(uri, now());
      throw error;
    }
  };
}

/**
 * With tracing on and a request being served, the fetch is a client span of it
 * and carries its traceparent; only the method, host, port and status are
 * recorded (a registered URI's path or query could hold a credential).
 */
function clientSpan(url: URL, port: number, headers: Record<string, string>): Span | undefined {
  const active = context.active();
  if (trace.getSpan(active)?.isRecording() !== true) return undefined;
  const span = trace.getTracer(TRACER_NAME).startSpan(
    "GET",
    { kind: SpanKind.CLIENT, attributes: { "http.request.method": "GET", "server.address": url.hostname, "server.port": port } },
    active,
  );
  propagation.inject(trace.setSpan(active, span), headers);
  return span;
}

async function fetchOnce(url: URL, policy: JwksUriPolicy, limits: JwksUriFetchLimits, signal: AbortSignal): Promise<string> {
  const https = url.protocol === "https:";
  const port = Number(url.port || (https ? 443 : 80));
  const headers: Record<string, string> = { host: url.host, accept: "application/json, application/jwk-set+json", "user-agent": "tokensmith" };
  const span = clientSpan(url, port, headers);
  try {
    const body = await fetchChecked(url, policy, limits, signal, headers, (status) => span?.setAttribute("http.response.status_code", status));
    span?.end();
    return body;
  } catch (error) {
    if (span !== undefined) {
      markFailed(span, errorType(error));
      span.end();
    }
    throw error;
  }
}

async function fetchChecked(
  url: URL,
  policy: JwksUriPolicy,
  limits: JwksUriFetchLimits,
  signal: AbortSignal,
  headers: Record<string, string>,
  onStatus: (status: number) => void,
): Promise<string> {
  const address = await resolveChecked(url, policy, signal);
  const https = url.protocol === "https:";
  const literal = hostAddress(url) !== undefined;
  return new Promise<string>((resolve, reject) => {
    const fail = (error: Error) => {
      request.destroy();
      reject(error);
    };
    const request = (https ? httpsRequest : httpRequest)({
      host: address,
      port: url.port || (https ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: "GET",
      headers,
      // TLS checks the certificate against the URI's name, not the address we connect to.
      ...(https && !literal ? { servername: url.hostname } : {}),
      ...(limits.ca ? { ca: limits.ca } : {}),
      agent: false,
      signal,
    });
    request.on("error", (error) => reject(readFailure(error, signal, limits)));
    request.on("response", (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      onStatus(status);
      if (status >= 300 && status < 400) return fail(new JwksUriError(`jwks_uri answered a redirect (${status}); redirects are not followed`));
      if (status !== 200) return fail(new JwksUriError(`jwks_uri answered HTTP ${status}`));
      const declared = Number(response.headers["content-length"] ?? 0);
      if (declared > limits.maxBytes) return fail(tooLarge(limits));
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > limits.maxBytes) return fail(tooLarge(limits));
        chunks.push(chunk);
      });
      response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      response.on("error", (error) => reject(readFailure(error, signal, limits)));
    });
    request.end();
  });
}

/** The address to connect to: the literal in the URI, or the host's DNS answers, every one of which must pass the policy. */
async function resolveChecked(url: URL, policy: JwksUriPolicy, signal: AbortSignal): Promise<string> {
  signal.throwIfAborted();
  const literal = hostAddress(url);
  if (literal !== undefined) {
    checkJwksAddress(literal, policy);
    return literal;
  }
  const answers = await Promise.race([
    lookup(url.hostname, { all: true, verbatim: true }),
    new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new JwksUriError("jwks_uri host did not resolve in time")), { once: true })),
  ]);
  if (answers.length === 0) throw new JwksUriError("jwks_uri host has no address");
  for (const answer of answers) checkJwksAddress(answer.address, policy);
  return answers[0]!.address;
}

const tooLarge = (limits: JwksUriFetchLimits) => new JwksUriError(`jwks_uri served more than ${limits.maxBytes} bytes`);

function readFailure(error: Error, signal: AbortSignal, limits: JwksUriFetchLimits): Error {
  if (!signal.aborted) return new JwksUriError(`jwks_uri could not be read (${(error as NodeJS.ErrnoException).code ?? error.message})`, { cause: error });
  // jose reports an error of this name as JWKSTimeout.
  const timeout = new Error(`jwks_uri did not answer within ${limits.timeoutMs} ms`, { cause: error });
  timeout.name = "TimeoutError";
  return timeout;
}
