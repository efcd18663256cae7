import { cors as connectCors } from "@connectrpc/connect";
import type { NodeRequest, NodeResponse } from "../edge/node-http.js";

/** Which browser origins may call Tokensmith (the `cors` section of the configuration). */
export interface CorsPolicy {
  /** Exact origins (`https://app.example.com`), or `*` for any origin without credentials. */
  allowedOrigins: readonly string[];
  /** Sends Access-Control-Allow-Credentials, so browsers may send cookies or TLS client certificates. */
  allowCredentials: boolean;
}

/** An origin as browsers send it: scheme://host[:port] in lower case, no path or trailing slash. */
export function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

/** Chromium caps preflight caching at two hours; longer values buy nothing. */
export const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/** Connect, gRPC-Web and Connect GET need these; `authorization` carries every Tokensmith credential. */
export const CORS_ALLOWED_METHODS: readonly string[] = connectCors.allowedMethods;
export const CORS_ALLOWED_HEADERS: readonly string[] = [...connectCors.allowedHeaders, "Authorization"];
/** gRPC-Web status and error details (Grpc-Status-Details-Bin carries the OAuthErrorDetail), plus OAuth's. */
export const CORS_EXPOSED_HEADERS: readonly string[] = [...connectCors.exposedHeaders, "Retry-After", "WWW-Authenticate"];

/** Resolves true when the request was answered here (a preflight); false hands it on with CORS headers set. */
export type CorsHandler = (req: NodeRequest, res: NodeResponse) => boolean;

/**
 * CORS (Fetch standard §3.2) for the RPCs and the OAuth and well-known
 * endpoints alike. An origin not on the list gets no Access-Control-* header
 * at all, so the browser refuses to hand the response to the page.
 */
export function corsHandler(policy: CorsPolicy | undefined): CorsHandler {
  const origins = new Set(policy?.allowedOrigins ?? []);
  const anyOrigin = origins.has("*");
  const credentials = policy?.allowCredentials === true;
  if (origins.size === 0) return () => false;

  const allowedOrigin = (origin: string): string | undefined => {
    if (origins.has(origin)) return origin;
    // With credentials, the Fetch standard forbids `*`; the config refuses that pairing anyway.
    if (anyOrigin) return credentials ? origin : "*";
    return undefined;
  };

  return (req, res) => {
    // The answer depends on the Origin: shared caches must not hand one origin's answer to another.
    res.setHeader("vary", "Origin");
    const origin = header(req, "origin");
    const isPreflight = req.method === "OPTIONS" && origin !== undefined && header(req, "access-control-request-method") !== undefined;
    const allowed = origin === undefined ? undefined : allowedOrigin(origin);

    if (isPreflight) {
      res.setHeader("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
      if (allowed === undefined) {
        res.writeHead(403, { "content-length": "0" });
        res.end();
        return true;
      }
      const headers: Record<string, string> = {
        "access-control-allow-origin": allowed,
        "access-control-allow-methods": CORS_ALLOWED_METHODS.join(", "),
        "access-control-allow-headers": CORS_ALLOWED_HEADERS.join(", "),
        "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
        "content-length": "0",
      };
      if (credentials) headers["access-control-allow-credentials"] = "true";
      res.writeHead(204, headers);
      res.end();
      return true;
    }

    if (allowed !== undefined) {
      res.setHeader("access-control-allow-origin", allowed);
      res.setHeader("access-control-expose-headers", CORS_EXPOSED_HEADERS.join(", "));
      if (credentials) res.setHeader("access-control-allow-credentials", "true");
    }
    return false;
  };
}

function header(req: NodeRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}
