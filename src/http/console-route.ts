import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { CONSOLE_HTML } from "../console/page.js";
import type { NodeRequest, NodeResponse } from "../edge/node-http.js";
import { packageRoot } from "../package-root.js";
import type { HttpRoute } from "./http-routes.js";

/**
 * The web console: `/console` (the HTML page) and `/console/app.js`, the
 * bundle of src/console that `npm run build:console` writes to
 * static/console/app.js and that is committed with the package (`npm test`
 * checks it is current). The server only reads that file: it needs no
 * bundler, so a production install without devDependencies serves the
 * console. The page talks to the AdminService and TokenService over
 * Connect-Web on this same origin: there is no console API of its own.
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

const SCRIPT = join("static", "console", "app.js");

/** static/console/app.js of the package root. */
function scriptPath(): string {
  return join(packageRoot(), SCRIPT);
}

async function readBundle(path: string): Promise<Bundle> {
  const code = await readFile(path);
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

/** `scriptFile`: where the console's bundle is (tests); static/console/app.js of the package by default. */
export function consoleRoute(deps: { logger: Logger; scriptFile?: string }): HttpRoute {
  const scriptFile = deps.scriptFile ?? scriptPath();
  let bundle: Promise<Bundle> | undefined;
  const html = Buffer.from(CONSOLE_HTML, "utf8");

  /** One read shared by concurrent first requests; a failed read is retried on the next request. */
  const getBundle = (): Promise<Bundle> => {
    if (bundle === undefined) {
      bundle = readBundle(scriptFile).catch((error: unknown) => {
        bundle = undefined;
        throw error;
      });
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
          deps.logger.error({ err: error, path: SCRIPT }, "console script unreadable: run `npm run build:console`");
          sendText(res, req, 500, `The Tokensmith console's script (${SCRIPT}) could not be read: the server log says why.`);
        },
      );
      return true;
    }
    sendText(res, req, 404, "Not found: the console is at /console.");
    return true;
  };
}
