import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { startTestServer, testClient } from "../support/tokensmith.js";
import { CHROMIUM, hasChromium, launchChromium } from "./support/chromium.js";

/**
 * A browser app on another origin calls Tokensmith with connect-web, over the
 * Connect protocol and over gRPC-Web: the page (test/e2e/browser/page.ts) is
 * bundled with esbuild, served by a separate static server, and run in
 * Debian's headless Chromium, so CORS is the browser's real one.
 */

const orders = testClient("browser-app", ["orders:read", "token:introspect"]);

interface StaticSite {
  origin: string;
  close(): Promise<void>;
}

/** Serves index.html and page.js from `dir`, nothing else. */
async function serveStatic(dir: string): Promise<StaticSite> {
  const types: Record<string, string> = { "/": "text/html; charset=utf-8", "/page.js": "text/javascript; charset=utf-8" };
  const files: Record<string, string> = { "/": "index.html", "/page.js": "page.js" };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const file = files[path];
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(dir, file)).then(
      (body) => res.writeHead(200, { "content-type": types[path]!, "cache-control": "no-store" }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe.skipIf(!hasChromium)(
  hasChromium ? "a browser app in headless Chromium" : `a browser app in headless Chromium — SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`,
  () => {
    let dir: string;
    let app: StaticSite;
    let stranger: StaticSite;
    let tokensmith: RunningServer;
    let browser: Browser;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "tokensmith-browser-"));
      await build({
        entryPoints: [new URL("./browser/page.ts", import.meta.url).pathname],
        bundle: true,
        format: "esm",
        platform: "browser",
        target: "es2022",
        outfile: join(dir, "page.js"),
        logLevel: "error",
      });
      await writeFile(join(dir, "index.html"), '<!doctype html><meta charset="utf-8"><title>Tokensmith from a browser</title><script type="module" src="/page.js"></script>');
      app = await serveStatic(dir);
      stranger = await serveStatic(dir);
      tokensmith = await startTestServer({ clients: [orders], config: { cors: { allowedOrigins: [app.origin], allowCredentials: false } } });
      browser = await launchChromium();
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await tokensmith?.close();
      await app?.close();
      await stranger?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** Opens the page from `site`, waits until it has run every step, and returns each step's line and the console. */
    async function runPage(site: StaticSite): Promise<{ lines: Record<string, string>; console: string[] }> {
      const page = await browser.newPage();
      const messages: string[] = [];
      page.on("console", (message) => messages.push(message.text()));
      try {
        const hash = new URLSearchParams({ tokensmith: tokensmith.url, clientId: orders.id, clientSecret: orders.secret });
        await page.goto(`${site.origin}/#${hash.toString()}`);
        await page.waitForSelector("body[data-done=true]", { timeout: 30_000 });
        const lines = await page.$$eval("p[id]", (elements) => Object.fromEntries(elements.map((element) => [element.id, element.textContent ?? ""])));
        return { lines, console: messages };
      } finally {
        await page.close();
      }
    }

    let allowedRun: ReturnType<typeof runPage> | undefined;
    /** The page runs both protocols; open it once for all their tests. */
    const fromAllowedOrigin = () => (allowedRun ??= runPage(app));

    describe.each(["connect", "grpc-web"])("from an allowed origin, over %s", (protocol) => {
      let lines: Record<string, string>;
      beforeAll(async () => {
        lines = (await fromAllowedOrigin()).lines;
      }, 60_000);

      it("shows the issued token", () => {
        expect(lines[`${protocol}-token`]).toBe("token issued: Bearer, expires in 3600 s, scopes orders:read");
      });

      it("shows the token active on introspection", () => {
        expect(lines[`${protocol}-introspection`]).toBe(`introspection: active=true, client_id=${orders.id}, scopes orders:read`);
      });

      it("shows a PermissionDenied error with its OAuth reason", () => {
        expect(lines[`${protocol}-denied`]).toMatch(/^error: PermissionDenied: invalid_scope: .*billing:read/);
      });

      it("shows one token from the token source for concurrent callers", () => {
        expect(lines[`${protocol}-token-source`]).toBe("token source: 1 token for 3 callers");
      });
    });

    it("from an origin not on the list, the browser blocks every call", async () => {
      const { lines, console } = await runPage(stranger);
      for (const protocol of ["connect", "grpc-web"]) {
        expect(lines[`${protocol}-token`]).toMatch(/^error: /);
        expect(lines[`${protocol}-token`]).not.toMatch(/token issued/);
      }
      expect(console.some((text) => text.includes("has been blocked by CORS policy"))).toBe(true);
    }, 60_000);
  },
);
