import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Browser, Locator, Page } from "playwright-core";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { CONSOLE_CSP, consoleRoute } from "../../src/http/console-route.js";
import type { RunningServer } from "../../src/server.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";
import { CHROMIUM, chromiumPage, hasChromium, textOf, WAIT_MS } from "./support/chromium.js";

/**
 * The web console at /console, clicked through in Debian's headless Chromium:
 * sign in, create an API key and use it from Node, delete it, create and
 * rotate a client, page the client list, rotate a signing key, and sign in
 * again when the session expires. Screenshots of each step go to
 * test-artifacts/console/.
 */

const SHOTS = join(import.meta.dirname, "..", "..", "test-artifacts", "console");

const admin = testClient("console-admin", ["tokensmith:admin"]);
const orders = testClient("orders-service", ["orders:read", "orders:write"]);

const apiKeyAuthorization = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}` });

describe.skipIf(!hasChromium)(
  hasChromium ? "the web console in headless Chromium" : `the web console in headless Chromium — SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`,
  () => {
    let tokensmith: RunningServer;
    let browser: Browser;
    let page: Page;
    let problems: string[] = [];
    const tokens = () => tokenClient(createConnectTransport({ baseUrl: tokensmith.url, httpVersion: "1.1" }));
    const byTestId = (id: string) => page.getByTestId(id);
    const shot = (name: string, on: Page = page) => on.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    const text = textOf;

    beforeAll(async () => {
      await rm(SHOTS, { recursive: true, force: true });
      await mkdir(SHOTS, { recursive: true });
      tokensmith = await startTestServer({
        clients: [admin, orders],
        config: {
          apiKeys: [{ name: "legacy-backend", keyHash: hashSecret(generateSecret("api_key")), scopes: ["passkey:read"] }],
          signingKeys: { publishDelaySeconds: 60, rotateEveryDays: 0, refreshSeconds: 3600 },
        },
      });
      ({ browser, page, problems } = await chromiumPage(tokensmith.url));
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await tokensmith?.close();
    });

    it("serves the page and its bundled script with a strict CSP and no-store", async () => {
      const html = await fetch(`${tokensmith.url}/console`);
      expect(html.status).toBe(200);
      expect(html.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(html.headers.get("cache-control")).toBe("no-store");
      expect(html.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
      expect(CONSOLE_CSP).toBe("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
      expect(html.headers.get("x-content-type-options")).toBe("nosniff");
      expect(html.headers.get("referrer-policy")).toBe("no-referrer");
      const body = await html.text();
      // No inline script: every <script> loads a file.
      expect([...body.matchAll(/<script[^>]*>/g)].map((tag) => tag[0])).toEqual(['<script type="module" src="/console/app.js">']);

      const script = await fetch(`${tokensmith.url}/console/app.js`);
      expect(script.status).toBe(200);
      expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(script.headers.get("x-content-type-options")).toBe("nosniff");
      expect((await script.text()).length).toBeGreaterThan(10_000);
      const etag = script.headers.get("etag");
      expect(etag).toMatch(/^".+"$/);
      const again = await fetch(`${tokensmith.url}/console/app.js`, { headers: { "if-none-match": etag! } });
      expect(again.status).toBe(304);

      expect((await fetch(`${tokensmith.url}/console`, { method: "POST", body: "x" })).status).toBe(405);
      expect((await fetch(`${tokensmith.url}/console/nothing-here`)).status).toBe(404);
    });

    it("refuses a wrong secret and shows invalid_client", async () => {
      await page.goto(`${tokensmith.url}/console`);
      await byTestId("signin-client-id").fill(admin.id);
      await byTestId("signin-secret").fill(generateSecret("client_secret"));
      await byTestId("signin-submit").click();
      const error = byTestId("signin-error");
      await error.waitFor({ timeout: WAIT_MS });
      expect(await text(error)).toMatch(/^Sign-in failed: invalid_client: .*\(Unauthenticated\)$/);
      expect(await error.getAttribute("data-oauth-error")).toBe("invalid_client");
      await shot("01-sign-in-refused");
    });

    it("signs in, keeps the token (never the secret) in the tab's sessionStorage only, and shows config clients read-only", async () => {
      await byTestId("signin-secret").fill(admin.secret);
      await byTestId("signin-submit").click();
      const ordersRow = page.locator('[data-testid=client-row][data-id="orders-service"]');
      await ordersRow.waitFor({ timeout: WAIT_MS });
      expect(await ordersRow.getAttribute("data-source")).toBe("config");
      expect(await text(ordersRow.getByTestId("read-only"))).toBe("read-only");
      expect(await ordersRow.getByTestId("client-delete").count()).toBe(0);
      expect(await text(byTestId("signed-in-as"))).toContain(admin.id);
      const stored = await page.evaluate(() => ({ local: localStorage.length, session: Object.values(sessionStorage).join(" "), cookie: document.cookie }));
      expect(stored).toMatchObject({ local: 0, cookie: "" });
      expect(stored.session).toMatch(/"value":"ey/);
      expect(stored.session).not.toContain(admin.secret);
      await shot("02-clients");
    });

    let apiKey = "";

    it("creates an API key with scopes picked from the known set and shows the key once", async () => {
      await byTestId("tab-api-keys").click();
      await page.locator('[data-testid=api-key-row][data-name="legacy-backend"] [data-testid=read-only]').waitFor({ timeout: WAIT_MS });
      await byTestId("api-key-new").click();
      const form = byTestId("api-key-form");
      await form.locator('[data-testid=scope-option][data-scope="orders:read"]').waitFor({ timeout: WAIT_MS });
      // The known set: Tokensmith's own scopes, and every scope of every client and API key.
      const offered = await form.getByTestId("scope-option").evaluateAll((options) => options.map((option) => (option as HTMLElement).dataset.scope));
      expect(offered).toEqual(["external:verify", "grant:consume", "orders:read", "orders:write", "passkey:read", "token:delete", "token:introspect", "tokensmith:admin", "tokensmith:tenants"]);

      await byTestId("api-key-name").fill("checkout-backend");
      await byTestId("api-key-lifetime").fill("60");
      await form.locator('[data-testid=scope-option][data-scope="orders:read"] input').check();
      await byTestId("scope-add-input").fill("orders:refund");
      await byTestId("scope-add").click();
      expect(await form.locator('[data-testid=scope-option][data-scope="orders:refund"] input').isChecked()).toBe(true);
      await shot("03-api-key-form");
      await byTestId("api-key-create").click();

      const dialog = byTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      apiKey = await text(dialog.getByTestId("secret-value"));
      expect(apiKey).toMatch(/^tks_ak_[0-9A-Za-z]{49}$/);
      expect(await text(dialog.getByTestId("secret-once-note"))).toContain("it will not be shown again");
      await dialog.getByTestId("secret-copy").click();
      await expect.poll(() => text(dialog.getByTestId("secret-copy-status"))).not.toBe("");
      if ((await dialog.getByTestId("secret-copy-status").getAttribute("data-copied")) === "clipboard") {
        expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(apiKey);
      } else {
        // No clipboard here: the fallback selects the key for Ctrl+C.
        expect(await page.evaluate(() => String(window.getSelection()))).toBe(apiKey);
      }
      await shot("04-api-key-shown-once");
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });

      const row = page.locator('[data-testid=api-key-row][data-name="checkout-backend"]');
      await row.waitFor({ timeout: WAIT_MS });
      expect(await text(row)).toContain("orders:readorders:refund");
      expect(await text(row)).toContain("60 s");
      expect(await page.content()).not.toContain(apiKey);
    });

    it("the key shown works with IssueGrant from Node", async () => {
      const grant = await tokens().issueGrant({ username: "alice", grants: ["orders:read"] }, { headers: apiKeyAuthorization(apiKey) });
      expect(grant.token).toMatch(/^tks_gr_/);
      expect(grant.grants).toEqual(["orders:read"]);
      expect(grant.expiresIn).toBe(60n);
    });

    it("deleting the key in the console makes IssueGrant fail Unauthenticated", async () => {
      const row = page.locator('[data-testid=api-key-row][data-name="checkout-backend"]');
      await row.getByTestId("api-key-delete").click();
      const confirm = byTestId("confirm-dialog");
      await confirm.waitFor({ timeout: WAIT_MS });
      expect(await text(confirm.getByTestId("confirm-message"))).toContain("checkout-backend");
      await shot("05-api-key-confirm-delete");
      await confirm.getByTestId("confirm-ok").click();
      await row.waitFor({ state: "detached", timeout: WAIT_MS });
      expect(await text(byTestId("notice"))).toBe('API key "checkout-backend" was deleted.');
      await shot("06-api-key-deleted");

      await expectRpcError(tokens().issueGrant({ username: "alice", grants: ["orders:read"] }, { headers: apiKeyAuthorization(apiKey) }), Code.Unauthenticated, "invalid_client");
    });

    it("creates a client, shows its secret once, and the page holds it nowhere afterwards; rotation issues a new one", async () => {
      await byTestId("tab-clients").click();
      await byTestId("client-new").click();
      const form = byTestId("client-form");
      await form.locator('[data-testid=scope-option][data-scope="orders:read"]').waitFor({ timeout: WAIT_MS });
      await byTestId("client-id").fill("reporting-service");
      await form.locator('[data-testid=scope-option][data-scope="orders:read"] input').check();
      await byTestId("client-audiences").fill("https://reports.example.com");
      await byTestId("client-lifetime").fill("600");
      await byTestId("client-create").click();

      const dialog = byTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      const secret = await text(dialog.getByTestId("secret-value"));
      expect(secret).toMatch(/^tks_cs_/);
      await shot("07-client-secret-shown-once");
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });

      await byTestId("clients-refresh").click();
      const row = page.locator('[data-testid=client-row][data-id="reporting-service"]');
      await row.waitFor({ timeout: WAIT_MS });
      expect(await row.getAttribute("data-source")).toBe("store");
      expect(await text(row)).toContain("https://reports.example.com");
      expect(await page.content()).not.toContain(secret);

      const issued = await tokens().issueClientToken({}, { headers: basic("reporting-service", secret) });
      expect(issued.scopes).toEqual(["orders:read"]);
      expect(issued.expiresIn).toBe(600n);

      await row.getByTestId("client-rotate").click();
      await byTestId("confirm-ok").click();
      await dialog.waitFor({ timeout: WAIT_MS });
      const rotated = await text(dialog.getByTestId("secret-value"));
      expect(rotated).toMatch(/^tks_cs_/);
      expect(rotated).not.toBe(secret);
      await shot("08-client-secret-rotated");
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });
      await row.getByTestId("previous-secret").waitFor({ timeout: WAIT_MS });
      expect(await page.content()).not.toContain(rotated);
      expect((await tokens().issueClientToken({}, { headers: basic("reporting-service", rotated) })).scopes).toEqual(["orders:read"]);
    });

    // Issue 16, item 8: the form picks the authentication method; a key-only client gets no secret.
    it("creates a private_key_jwt client: no secret shown, its method listed, nothing to rotate", async () => {
      await byTestId("client-new").click();
      await byTestId("client-id").fill("keys-only-service");
      expect(await byTestId("client-jwks").isVisible()).toBe(false);
      await byTestId("client-auth-method").selectOption("private_key_jwt");
      const jwks = JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] });
      await byTestId("client-jwks").fill(jwks);
      await byTestId("client-create").click();
      await byTestId("notice").filter({ hasText: "keys-only-service" }).waitFor({ timeout: WAIT_MS });
      expect(await text(byTestId("notice"))).toBe('Client "keys-only-service" was created; it authenticates with private_key_jwt and has no secret.');
      expect(await byTestId("secret-dialog").count()).toBe(0);

      await byTestId("clients-refresh").click();
      const row = page.locator('[data-testid=client-row][data-id="keys-only-service"]');
      await row.waitFor({ timeout: WAIT_MS });
      expect(await text(row.getByTestId("client-auth-methods"))).toBe("private_key_jwt");
      expect(await row.getByTestId("client-rotate").count()).toBe(0);
      const secretRow = page.locator('[data-testid=client-row][data-id="reporting-service"]');
      expect(await text(secretRow.getByTestId("client-auth-methods"))).toBe("client_secret_basic, client_secret_post");
    });

    // Issue 20: the grant types, client_credentials by default; token exchange can be ticked.
    it("creates a client registered for token exchange: its grant types listed, and in GetClient", async () => {
      await byTestId("client-new").click();
      await byTestId("client-id").fill("exchanging-service");
      const grant = (name: string) => page.locator(`[data-testid=client-grant-type][data-grant-type="${name}"] input`);
      expect(await grant("client_credentials").isChecked()).toBe(true);
      expect(await grant("urn:ietf:params:oauth:grant-type:token-exchange").isChecked()).toBe(false);
      await grant("urn:ietf:params:oauth:grant-type:token-exchange").check();
      await byTestId("client-create").click();
      const dialog = byTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });

      await byTestId("clients-refresh").click();
      const row = page.locator('[data-testid=client-row][data-id="exchanging-service"]');
      await row.waitFor({ timeout: WAIT_MS });
      expect(await text(row.getByTestId("client-grant-types"))).toBe("client_credentials, urn:ietf:params:oauth:grant-type:token-exchange");
      const reportingRow = page.locator('[data-testid=client-row][data-id="reporting-service"]');
      expect(await text(reportingRow.getByTestId("client-grant-types"))).toBe("client_credentials");

      const { accessToken: adminToken } = await tokens().issueClientToken({ scopes: ["tokensmith:admin"] }, { headers: basic(admin.id, admin.secret) });
      const adminRpc = createClient(AdminService, createConnectTransport({ baseUrl: tokensmith.url, httpVersion: "1.1" }));
      const { client } = await adminRpc.getClient({ id: "exchanging-service" }, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(client?.grantTypes).toEqual(["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]);
    });

    // Issue 20, item 3: a client authenticated by a trusted external issuer's token has neither secret nor keys.
    it("creates a federated_jwt client: no keys asked, no secret shown, its method listed", async () => {
      await byTestId("client-new").click();
      await byTestId("client-id").fill("workload-service");
      await byTestId("client-auth-method").selectOption("federated_jwt");
      expect(await byTestId("client-jwks").isVisible()).toBe(false);
      await byTestId("client-create").click();
      await byTestId("notice").filter({ hasText: "workload-service" }).waitFor({ timeout: WAIT_MS });
      expect(await text(byTestId("notice"))).toBe('Client "workload-service" was created; it authenticates with federated_jwt and has no secret.');
      expect(await byTestId("secret-dialog").count()).toBe(0);
      await byTestId("clients-refresh").click();
      const row = page.locator('[data-testid=client-row][data-id="workload-service"]');
      await row.waitFor({ timeout: WAIT_MS });
      expect(await text(row.getByTestId("client-auth-methods"))).toBe("federated_jwt");
      expect(await row.getByTestId("client-rotate").count()).toBe(0);
    });

    // Issue 18, item 3: the kill switch, on a stored client's row and on a config client's (revoking is not an edit).
    it("revokes every token of a stored client and of a config-declared client, after a confirmation", async () => {
      const { accessToken: adminToken } = await tokens().issueClientToken({ scopes: ["tokensmith:admin"] }, { headers: basic(admin.id, admin.secret) });
      const adminRpc = createClient(AdminService, createConnectTransport({ baseUrl: tokensmith.url, httpVersion: "1.1" }));
      const { clientSecret } = await adminRpc.createClient({ id: "leaky-service", scopes: ["token:introspect"] }, { headers: { authorization: `Bearer ${adminToken}` } });
      const asLeaky = { headers: basic("leaky-service", clientSecret) };
      const tokenOf = async (id: string, secret: string) => (await tokens().issueClientToken({}, { headers: basic(id, secret) })).accessToken;
      const active = async (token: string) => (await tokens().introspect({ token }, asLeaky)).active;
      const leaked = await tokenOf("leaky-service", clientSecret);
      const ordersToken = await tokenOf(orders.id, orders.secret);

      await byTestId("clients-refresh").click();
      const row = page.locator('[data-testid=client-row][data-id="leaky-service"]');
      await row.waitFor({ timeout: WAIT_MS });
      const confirm = byTestId("confirm-dialog");
      // Cancelled: nothing revoked.
      await row.getByTestId("client-revoke-tokens").click();
      await confirm.waitFor({ timeout: WAIT_MS });
      expect(await text(confirm.getByTestId("confirm-message"))).toContain("leaky-service");
      await confirm.getByTestId("confirm-cancel").click();
      await confirm.waitFor({ state: "detached", timeout: WAIT_MS });
      expect(await active(leaked)).toBe(true);

      await row.getByTestId("client-revoke-tokens").click();
      await shot("08b-client-confirm-revoke-tokens");
      await confirm.getByTestId("confirm-ok").click();
      await byTestId("notice").filter({ hasText: "leaky-service" }).waitFor({ timeout: WAIT_MS });
      expect(await text(byTestId("notice"))).toMatch(/^Every token client "leaky-service" was issued up to .+ is now inactive\.$/);
      expect(await active(leaked)).toBe(false);
      expect(await active(await tokenOf("leaky-service", clientSecret))).toBe(true);
      await row.waitFor({ timeout: WAIT_MS });

      const ordersRow = page.locator('[data-testid=client-row][data-id="orders-service"]');
      expect(await ordersRow.getByTestId("read-only").count()).toBe(1);
      expect(await ordersRow.getByTestId("client-delete").count()).toBe(0);
      expect(await active(ordersToken)).toBe(true);
      await ordersRow.getByTestId("client-revoke-tokens").click();
      await confirm.getByTestId("confirm-ok").click();
      await byTestId("notice").filter({ hasText: "orders-service" }).waitFor({ timeout: WAIT_MS });
      expect(await active(ordersToken)).toBe(false);
      expect(await active(await tokenOf(orders.id, orders.secret))).toBe(true);
    });

    it("pages the client list with next_page_token", async () => {
      const { accessToken } = await tokens().issueClientToken({ scopes: ["tokensmith:admin"] }, { headers: basic(admin.id, admin.secret) });
      const adminRpc = createClient(AdminService, createConnectTransport({ baseUrl: tokensmith.url, httpVersion: "1.1" }));
      for (let index = 0; index < 60; index++) {
        await adminRpc.createClient({ id: `bulk-${String(index).padStart(3, "0")}`, scopes: ["orders:read"] }, { headers: { authorization: `Bearer ${accessToken}` } });
      }
      await byTestId("clients-refresh").click();
      const rows = byTestId("client-row");
      const more = byTestId("clients-more");
      await more.waitFor({ timeout: WAIT_MS });
      expect(await rows.count()).toBe(50);
      await more.click();
      // 60 created here, plus console-admin, orders-service, reporting-service, keys-only-service, exchanging-service, workload-service and leaky-service.
      await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(67);
      expect(await more.isHidden()).toBe(true);
      const ids = await rows.evaluateAll((elements) => elements.map((element) => (element as HTMLElement).dataset.id));
      expect(ids).toEqual([...ids].sort());
      expect(new Set(ids).size).toBe(67);
    });

    it("rotates the signing key and lists the new one next to the current one", async () => {
      await byTestId("tab-signing-keys").click();
      const rows = byTestId("signing-key-row");
      await rows.first().waitFor({ timeout: WAIT_MS });
      expect(await rows.count()).toBe(1);
      expect(await rows.first().getAttribute("data-active")).toBe("true");
      await byTestId("signing-key-rotate").click();
      await byTestId("confirm-ok").click();
      await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(2);
      expect(await text(byTestId("notice"))).toMatch(/^New signing key \S+ is published; it signs from /);
      const states = await rows.evaluateAll((elements) => elements.map((element) => `${(element as HTMLElement).dataset.active}/${(element as HTMLElement).dataset.published}`));
      expect(states.sort()).toEqual(["false/true", "true/true"]);
      await shot("09-signing-keys-rotated");
    });

    it("the Audit tab shows a client created in the console as client.created, filters by kind and target, and pages with Older", async () => {
      await byTestId("tab-clients").click();
      await byTestId("client-new").click();
      await byTestId("client-id").fill("audited-service");
      await byTestId("client-create").click();
      const dialog = byTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      const secret = await text(dialog.getByTestId("secret-value"));
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });

      await byTestId("tab-audit").click();
      const rows = byTestId("audit-event-row");
      const created = page.locator('[data-testid=audit-event-row][data-kind="client.created"][data-target="audited-service"]');
      await created.waitFor({ timeout: WAIT_MS });
      // Newest first: the signing key rotated just before, then this client.
      expect(await rows.first().getAttribute("data-target")).toBe("audited-service");
      expect(await created.getAttribute("data-actor")).toBe(admin.id);
      expect(await text(created)).toMatch(/client\.created.*console-admin.*audited-service.*127\.0\.0\.1/);
      // Over 50 events (the bulk clients): a page, then Older for the rest.
      const older = byTestId("audit-events-more");
      await older.waitFor({ timeout: WAIT_MS });
      expect(await older.textContent()).toBe("Older");
      expect(await rows.count()).toBe(50);
      await older.click();
      await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBeGreaterThan(50);
      await shot("10-audit-trail");

      await byTestId("audit-filter-kind").selectOption("client.created");
      await byTestId("audit-filter-target").fill("audited-service");
      await byTestId("audit-filter-apply").click();
      await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(1);
      expect(await rows.first().getAttribute("data-kind")).toBe("client.created");
      await byTestId("audit-filter-target").fill("no-such-target");
      await byTestId("audit-filter-apply").click();
      await byTestId("audit-events-empty").waitFor({ timeout: WAIT_MS });
      expect(await rows.count()).toBe(0);
      expect(await page.content()).not.toContain(secret);
    });

    it("had no script error and no CSP violation", () => {
      expect(problems).toEqual([]);
    });

    it("asks to sign in again when the session expires, and after signing out", async () => {
      const expiring = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      try {
        await expiring.clock.install();
        await expiring.goto(`${tokensmith.url}/console`);
        await expiring.getByTestId("signin-client-id").fill(admin.id);
        await expiring.getByTestId("signin-secret").fill(admin.secret);
        await expiring.getByTestId("signin-submit").click();
        await expiring.getByTestId("clients-table").waitFor({ timeout: WAIT_MS });
        // The admin client's tokens live 3600 s (the server default).
        await expiring.clock.fastForward("01:00:00");
        const message = expiring.getByTestId("signin-message");
        await message.waitFor({ timeout: WAIT_MS });
        expect(await text(message)).toBe("Your session has expired: sign in again.");
        expect(await expiring.getByTestId("signin-client-id").inputValue()).toBe(admin.id);
        await shot("10-session-expired", expiring);

        await expiring.getByTestId("signin-secret").fill(admin.secret);
        await expiring.getByTestId("signin-submit").click();
        await expiring.getByTestId("client-row").first().waitFor({ timeout: WAIT_MS });
        await expiring.getByTestId("sign-out").click();
        expect(await text(expiring.getByTestId("signin-message"))).toBe("You signed out.");
        expect(await expiring.getByTestId("clients-table").count()).toBe(0);
      } finally {
        await expiring.close();
      }
    });
  },
);

// Issue 19: a platform administrator (tokensmith:tenants) picks the tenant every tab manages, and has a Tenants tab.
describe.skipIf(!hasChromium)(
  hasChromium ? "platform administrators in the web console" : `platform administrators in the web console — SKIPPED: ${CHROMIUM} is absent`,
  () => {
    const platform = testClient("console-platform", ["tokensmith:admin", "tokensmith:tenants"]);
    const tenantsOnly = testClient("console-tenants-only", ["tokensmith:tenants"]);
    const reader = testClient("console-reader", ["token:introspect"]);
    let tokensmith: RunningServer;
    let browser: Browser;
    let page: Page;
    let problems: string[] = [];
    let acmeAdminSecret = "";
    const byTestId = (id: string) => page.getByTestId(id);
    const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    const rpcAt = (tenant?: string) => {
      const transport = createConnectTransport({ baseUrl: tenant === undefined ? tokensmith.url : `${tokensmith.url.replace(/\/$/, "")}/t/${tenant}`, httpVersion: "1.1" });
      return { tokens: tokenClient(transport), admin: createClient(AdminService, transport) };
    };
    const bearerOf = async (tenant: string | undefined, id: string, secret: string, scopes: string[]) => ({
      headers: { authorization: `Bearer ${(await rpcAt(tenant).tokens.issueClientToken({ scopes }, { headers: basic(id, secret) })).accessToken}` },
    });
    const clientIdsOf = async (tenant: string | undefined, headers: { headers: Record<string, string> }) =>
      (await rpcAt(tenant).admin.listClients({}, headers)).clients.map((client) => client.id);
    const signIn = async (client: { id: string; secret: string }) => {
      await byTestId("signin-client-id").fill(client.id);
      await byTestId("signin-secret").fill(client.secret);
      await byTestId("signin-submit").click();
    };
    const signOut = async () => {
      await byTestId("sign-out").click();
      await byTestId("signin-form").waitFor({ timeout: WAIT_MS });
    };
    const pickerOptions = () => byTestId("tenant-picker").locator("option").evaluateAll((options) => options.map((option) => (option as HTMLOptionElement).value));

    beforeAll(async () => {
      await mkdir(SHOTS, { recursive: true });
      tokensmith = await startTestServer({
        clients: [admin, platform, tenantsOnly, reader],
        config: { signingKeys: { publishDelaySeconds: 60, rotateEveryDays: 0, refreshSeconds: 3600 } },
      });
      // Every console error counts here: nothing in this run is refused.
      ({ browser, page, problems } = await chromiumPage(tokensmith.url, { everyConsoleError: true }));
      await page.goto(`${tokensmith.url}/console`);
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await tokensmith?.close();
    });

    it("a platform administrator signs in: a tenant picker (the default tenant chosen) and a Tenants tab", async () => {
      await signIn(platform);
      await byTestId("client-row").first().waitFor({ timeout: WAIT_MS });
      expect(await textOf(byTestId("platform-administrator"))).toBe("platform administrator");
      expect(await byTestId("tenant-picker").inputValue()).toBe("default");
      expect(await textOf(byTestId("current-tenant"))).toContain("Managing tenant default");
      expect(await byTestId("tab-tenants").isVisible()).toBe(true);
      await expect.poll(pickerOptions, { timeout: WAIT_MS }).toEqual(["default"]);
    });

    it("creates tenant acme with a first admin, whose secret is shown once and works at acme's token endpoint", async () => {
      await byTestId("tab-tenants").click();
      const defaultRow = page.locator('[data-testid=tenant-row][data-id="default"]');
      await defaultRow.waitFor({ timeout: WAIT_MS });
      expect(await defaultRow.getAttribute("data-source")).toBe("config");
      expect(await defaultRow.getByTestId("tenant-delete").count()).toBe(0);
      // The Tenants tab manages no one tenant.
      expect(await byTestId("current-tenant").isHidden()).toBe(true);

      await byTestId("tenant-new").click();
      await byTestId("tenant-id").fill("acme");
      await byTestId("tenant-display-name").fill("Acme Corp");
      await byTestId("tenant-admin-client-id").fill("acme-admin");
      await shot("11-tenant-form");
      await byTestId("tenant-create").click();
      const dialog = byTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      acmeAdminSecret = await textOf(dialog.getByTestId("secret-value"));
      expect(acmeAdminSecret).toMatch(/^tks_cs_/);
      expect(await textOf(dialog)).toContain("acme-admin");
      expect(await textOf(dialog.getByTestId("secret-once-note"))).toContain("it will not be shown again");
      await shot("12-tenant-admin-secret-shown-once");
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });
      expect(await textOf(byTestId("notice"))).toBe('Tenant "acme" was created.');

      const row = page.locator('[data-testid=tenant-row][data-id="acme"]');
      await row.waitFor({ timeout: WAIT_MS });
      expect(await row.getAttribute("data-source")).toBe("store");
      expect(await textOf(row)).toContain("Acme Corp");
      expect(await textOf(row)).toContain(`${tokensmith.url.replace(/\/$/, "")}/t/acme`);
      expect(await page.content()).not.toContain(acmeAdminSecret);
      await expect.poll(pickerOptions, { timeout: WAIT_MS }).toEqual(["default", "acme"]);
      // The secret shown is acme's admin's, at acme's token endpoint only.
      expect(await clientIdsOf("acme", await bearerOf("acme", "acme-admin", acmeAdminSecret, ["tokensmith:admin"]))).toEqual(["acme-admin"]);
      await shot("13-tenants");
    });

    it("picks acme: the tabs manage acme, and a client created there is acme's, not the default tenant's", async () => {
      await byTestId("tenant-picker").selectOption("acme");
      // Picking a tenant from the Tenants tab shows its clients.
      expect(await byTestId("tab-clients").getAttribute("aria-selected")).toBe("true");
      await page.locator('[data-testid=client-row][data-id="acme-admin"]').waitFor({ timeout: WAIT_MS });
      expect(await byTestId("current-tenant").getAttribute("data-tenant")).toBe("acme");
      expect(await textOf(byTestId("current-tenant"))).toMatch(/^Managing tenant acme \(Acme Corp\) · issuer .*\/t\/acme$/);
      expect(await page.title()).toBe("acme — Tokensmith console");
      expect(await byTestId("client-row").count()).toBe(1);

      await byTestId("client-new").click();
      const form = byTestId("client-form");
      // The known scopes are acme's (and Tokensmith's own): not the default tenant's orders:*.
      await form.locator('[data-testid=scope-option][data-scope="tokensmith:admin"]').waitFor({ timeout: WAIT_MS });
      expect(await form.locator('[data-testid=scope-option][data-privileged="false"]').evaluateAll((options) => options.map((option) => (option as HTMLElement).dataset.scope))).toEqual([
        "external:verify",
      ]);
      // tokensmith:tenants means something for default-tenant clients only: acme's picker does not offer it.
      expect(await form.locator('[data-testid=scope-option][data-privileged="true"]').evaluateAll((options) => options.map((option) => (option as HTMLElement).dataset.scope))).toEqual([
        "grant:consume",
        "token:delete",
        "token:introspect",
        "tokensmith:admin",
      ]);
      await byTestId("client-id").fill("acme-orders");
      await byTestId("scope-add-input").fill("orders:read");
      await byTestId("scope-add").click();
      await byTestId("client-create").click();
      const dialog = byTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      const secret = await textOf(dialog.getByTestId("secret-value"));
      await shot("14-acme-client-created");
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });
      await page.locator('[data-testid=client-row][data-id="acme-orders"]').waitFor({ timeout: WAIT_MS });

      const acmeAdminHeaders = await bearerOf("acme", "acme-admin", acmeAdminSecret, ["tokensmith:admin"]);
      expect(await clientIdsOf("acme", acmeAdminHeaders)).toEqual(["acme-admin", "acme-orders"]);
      expect(await clientIdsOf(undefined, await bearerOf(undefined, admin.id, admin.secret, ["tokensmith:admin"]))).not.toContain("acme-orders");
      expect((await rpcAt("acme").tokens.issueClientToken({}, { headers: basic("acme-orders", secret) })).scopes).toEqual(["orders:read"]);
      await expectRpcError(rpcAt().tokens.issueClientToken({}, { headers: basic("acme-orders", secret) }), Code.Unauthenticated, "invalid_client");

      // acme's signing keys, not the default tenant's.
      await byTestId("tab-signing-keys").click();
      await byTestId("signing-key-row").first().waitFor({ timeout: WAIT_MS });
      const kids = await byTestId("signing-key-row").evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.kid));
      const jwksOf = async (prefix: string) =>
        ((await (await fetch(`${tokensmith.url.replace(/\/$/, "")}${prefix}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
      expect(kids).toEqual(await jwksOf("/t/acme"));
      const defaultKids = await jwksOf("");
      expect(kids.filter((kid) => defaultKids.includes(kid!))).toEqual([]);
    });

    it("switches back to the default tenant, and deletes acme after a confirmation", async () => {
      await byTestId("tab-clients").click();
      await byTestId("tenant-picker").selectOption("default");
      await page.locator('[data-testid=client-row][data-id="console-platform"]').waitFor({ timeout: WAIT_MS });
      expect(await byTestId("current-tenant").getAttribute("data-tenant")).toBe("default");
      const ids = await byTestId("client-row").evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.id));
      expect(ids).not.toContain("acme-orders");
      expect(ids).not.toContain("acme-admin");
      // The default tenant's client form offers tokensmith:tenants (marked privileged).
      await byTestId("client-new").click();
      const form = byTestId("client-form");
      const tenantsScope = form.locator('[data-testid=scope-option][data-scope="tokensmith:tenants"]');
      await tenantsScope.waitFor({ timeout: WAIT_MS });
      expect(await tenantsScope.getAttribute("data-privileged")).toBe("true");
      await byTestId("client-cancel").click();
      await form.waitFor({ state: "detached", timeout: WAIT_MS });

      await byTestId("tab-tenants").click();
      const row = page.locator('[data-testid=tenant-row][data-id="acme"]');
      await row.getByTestId("tenant-delete").click();
      const confirm = byTestId("confirm-dialog");
      await confirm.waitFor({ timeout: WAIT_MS });
      expect(await textOf(confirm.getByTestId("confirm-message"))).toContain('Every token of tenant "acme" stops being active at once');
      await shot("15-tenant-confirm-delete");
      await confirm.getByTestId("confirm-ok").click();
      await byTestId("notice").filter({ hasText: "acme" }).waitFor({ timeout: WAIT_MS });
      expect(await textOf(byTestId("notice"))).toBe('Tenant "acme" was deleted.');
      await expect.poll(pickerOptions, { timeout: WAIT_MS }).toEqual(["default"]);
      await expectRpcError(bearerOf("acme", "acme-admin", acmeAdminSecret, ["tokensmith:admin"]), Code.Unauthenticated, "invalid_client");
      await shot("16-tenant-deleted");
    });

    it("an admin without tokensmith:tenants sees neither the picker nor the Tenants tab", async () => {
      await signOut();
      await signIn(admin);
      await byTestId("client-row").first().waitFor({ timeout: WAIT_MS });
      expect(await byTestId("tab-clients").isVisible()).toBe(true);
      expect(await byTestId("tab-tenants").count()).toBe(0);
      expect(await byTestId("tenant-picker").count()).toBe(0);
      expect(await byTestId("platform-administrator").count()).toBe(0);
      expect(await byTestId("current-tenant").isHidden()).toBe(true);
      await shot("17-admin-without-tenants");
    });

    it("a platform administrator without tokensmith:admin starts on the Tenants tab; a client with neither scope is told so", async () => {
      await signOut();
      await signIn(tenantsOnly);
      await page.locator('[data-testid=tenant-row][data-id="default"]').waitFor({ timeout: WAIT_MS });
      expect(await byTestId("tab-tenants").getAttribute("aria-selected")).toBe("true");
      await signOut();
      await signIn(reader);
      const error = byTestId("signin-error");
      await error.waitFor({ timeout: WAIT_MS });
      expect(await textOf(error)).toBe("Sign-in failed: the client holds neither tokensmith:admin nor tokensmith:tenants: the console needs one of them (PermissionDenied)");
    });

    it("a tenant deleted elsewhere while picked: its refusal is shown, the session stays, and the console goes back to the default tenant", async () => {
      // A page of its own: the refused call logs a console error, which the main page counts.
      const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      other.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      try {
        const platformHeaders = await bearerOf(undefined, platform.id, platform.secret, ["tokensmith:tenants"]);
        await rpcAt().admin.createTenant({ id: "globex" }, platformHeaders);
        await other.goto(`${tokensmith.url}/console`);
        await other.getByTestId("signin-client-id").fill(platform.id);
        await other.getByTestId("signin-secret").fill(platform.secret);
        await other.getByTestId("signin-submit").click();
        await other.locator('[data-testid=tenant-picker] option[value="globex"]').waitFor({ state: "attached", timeout: WAIT_MS });
        await other.getByTestId("tenant-picker").selectOption("globex");
        await other.getByTestId("clients-empty").waitFor({ timeout: WAIT_MS });

        await rpcAt().admin.deleteTenant({ id: "globex" }, platformHeaders);
        await other.getByTestId("clients-refresh").click();
        const notice = other.getByTestId("notice");
        await notice.waitFor({ timeout: WAIT_MS });
        expect(await textOf(notice)).toBe('Tenant "globex" no longer exists: the console manages the default tenant.');
        expect(await other.getByTestId("tenant-picker").inputValue()).toBe("default");
        expect(await other.getByTestId("current-tenant").getAttribute("data-tenant")).toBe("default");
        await other.locator('[data-testid=client-row][data-id="console-platform"]').waitFor({ timeout: WAIT_MS });
        expect(await other.getByTestId("signed-in-as").isVisible()).toBe(true);
      } finally {
        await other.close();
      }
    });

    it("had no script error, no CSP violation and no console error", () => {
      expect(problems).toEqual([]);
    });
  },
);

describe("the console's script when it cannot be read", () => {
  it("answers 500 with a clear message, logs why, and reads the file again on the next request", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokensmith-console-"));
    const scriptFile = join(dir, "app.js");
    const lines: string[] = [];
    const route = consoleRoute({ logger: pino({ level: "info" }, { write: (line: string) => void lines.push(line) }), scriptFile });
    const server = createServer((req, res) => {
      if (!route(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const page = await fetch(`${url}/console`);
      expect(page.status).toBe(200);
      const script = await fetch(`${url}/console/app.js`);
      expect(script.status).toBe(500);
      expect(script.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      const body = await script.text();
      expect(body).toBe("The Tokensmith console's script (static/console/app.js) could not be read: the server log says why.\n");
      expect(body).not.toContain(dir);
      expect(lines.some((line) => line.includes("console script unreadable") && line.includes("ENOENT"))).toBe(true);
      await writeFile(scriptFile, "export {};\n");
      const retried = await fetch(`${url}/console/app.js`);
      expect(retried.status).toBe(200);
      expect(await retried.text()).toBe("export {};\n");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
