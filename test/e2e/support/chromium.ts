import { existsSync } from "node:fs";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";

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
