import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { CONSOLE_HTML } from "../console/page.js";
import type { NodeRequest, NodeResponse } from "../edge/node-http.js";
import type { HttpRoute } from "./http-routes.js";

/**
 * The web console: `/console` (the HTML page) and `/console/app.js` (the
 * bundle of src/console/app.ts). The page talks to the AdminService and
 * TokenService over Connect-Web on this same origin: there is no console API
 * of its own. The bundle is built with esbuild on the first request for it
 * and kept in memory, so an instance whose console is never opened neither
 * loads esbuild nor pays for the build.
 */

/** Same-origin only: no inline script, no framing, no third-party anything. */
export const CONSOLE_CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

interface Bundle {
  code: Buffer;
  etag: string;
}

/** src/console/app.ts when running the sources, dist/src/console/app.js after `npm run build`. */
function entryPoint(): string {
  const candidates = ["../console/app.ts", "../console/app.js"].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  return candidates.find((path) => existsSync(path)) ?? candidates[0]!;
}

/** Says what went wrong without the details (file paths) that only belong in the log. */
class BundleError extends Error {
  constructor(
    readonly publicMessage: string,
    cause: unknown,
  ) {
    super(`${publicMessage}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

async function buildBundle(): Promise<Bundle> {
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (error) {
    throw new BundleError("esbuild is not installed (the console's script is bundled with it at run time: install the dev dependencies)", error);
  }
  try {
    return await bundleWith(esbuild);
  } catch (error) {
    throw new BundleError("bundling src/console/app.ts failed (the server log has esbuild's messages)", error);
  }
}

async function bundleWith(esbuild: typeof import("esbuild")): Promise<Bundle> {
  const result = await esbuild.build({
    entryPoints: [entryPoint()],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    write: false,
    logLevel: "silent",
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error("esbuild produced no output");
  const code = Buffer.from(file.contents);
  return { code, etag: `"${createHash("sha256").update(code).digest("base64url").slice(0, 27)}"` };
}

function pathOf(req: NodeRequest): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

function send(res: NodeResponse, req: NodeRequest, status: number, headers: Record<string, string>, body: string | Buffer): void {
  const payload = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, "content-length": String(payload.length) });
  if (req.method === "HEAD") res.end();
  else res.end(payload);
}

function sendText(res: NodeResponse, req: NodeRequest, status: number, text: string, headers: Record<string, string> = {}): void {
  send(res, req, status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers }, `${text}\n`);
}

export function consoleRoute(deps: { logger: Logger }): HttpRoute {
  let bundle: Promise<Bundle> | undefined;
  const html = Buffer.from(CONSOLE_HTML, "utf8");

  /** One build shared by concurrent first requests; a failed build is retried on the next request. */
  const getBundle = (): Promise<Bundle> => {
    if (bundle === undefined) {
      const started = Date.now();
      bundle = buildBundle().then(
        (built) => {
          deps.logger.info({ bytes: built.code.length, ms: Date.now() - started }, "console script bundled");
          return built;
        },
        (error: unknown) => {
          bundle = undefined;
          throw error;
        },
      );
    }
    return bundle;
  };

  return (req, res) => {
    const path = pathOf(req);
    if (path !== "/console" && !path.startsWith("/console/")) return false;
    req.resume();
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendText(res, req, 405, "The console accepts GET only.", { allow: "GET, HEAD" });
      return true;
    }
    if (path === "/console" || path === "/console/") {
      send(res, req, 200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }, html);
      return true;
    }
    if (path === "/console/app.js") {
      getBundle().then(
        (built) => {
          if (req.headers["if-none-match"] === built.etag) {
            res.writeHead(304, { ...SECURITY_HEADERS, etag: built.etag, "cache-control": "no-cache" });
            res.end();
            return;
          }
          send(res, req, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", etag: built.etag }, built.code);
        },
        (error: unknown) => {
          deps.logger.error({ err: error }, "console script bundling failed");
          const reason = error instanceof BundleError ? error.publicMessage : "an unexpected error (the server log has it)";
          sendText(res, req, 500, `The Tokensmith console's script could not be built: ${reason}.`);
        },
      );
      return true;
    }
    sendText(res, req, 404, "Not found: the console is at /console.");
    return true;
  };
}
