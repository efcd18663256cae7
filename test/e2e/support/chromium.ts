import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import type { RunningServer } from "../../../src/server.js";

/** Debian's Chromium: playwright never downloads a browser here. */
export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);

/** Headless, and quiet: nothing talks to the network but the page. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/**
 * A Chromium page allowed the clipboard on `origin`, and the problems it
 * reports: every script error and CSP violation, and with
 * `everyConsoleError` every console error (a refused request logs one).
 */
export async function chromiumPage(origin: string, options: { everyConsoleError?: boolean } = {}): Promise<{ browser: Browser; page: Page; problems: string[] }> {
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if ((options.everyConsoleError && message.type() === "error") || /Content Security Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  return { browser, page, problems };
}

/** How long the console tests wait for an element. */
export const WAIT_MS = 15_000;

/** An element's text, once it is there. */
export const textOf = async (locator: Locator) => (await locator.textContent({ timeout: WAIT_MS })) ?? "";

/** What useConsolePage gives a suite once its beforeAll has run. */
export interface ConsolePage {
  tokensmith: RunningServer;
  browser: Browser;
  page: Page;
  /** Every script error and CSP violation the page reported. */
  problems: string[];
  /** A full-page screenshot, `name`.png in the suite's folder. */
  shot(name: string): Promise<Buffer>;
}

/**
 * A console suite's fixture: its screenshot folder `shots` emptied, the
 * server `start` gives, and a Chromium page on it (see chromiumPage); both
 * closed after the suite. Read the fields in tests and later hooks.
 */
export function useConsolePage(shots: string, start: () => Promise<RunningServer>): ConsolePage {
  const suite = { shot: (name: string) => suite.page.screenshot({ path: join(shots, `${name}.png`), fullPage: true }) } as ConsolePage;
  beforeAll(async () => {
    await rm(shots, { recursive: true, force: true });
    await mkdir(shots, { recursive: true });
    suite.tokensmith = await start();
    Object.assign(suite, await chromiumPage(suite.tokensmith.url));
  }, 90_000);
  afterAll(async () => {
    await suite.browser?.close();
    await suite.tokensmith?.close();
  });
  return suite;
}
