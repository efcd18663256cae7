import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";
import { CHROMIUM, hasChromium, launchChromium, textOf, WAIT_MS } from "./support/chromium.js";
import { horizontalOverflow, pngSize } from "./support/page-layout.js";

/**
 * Issue 21, item 4: the console, complete. Clicked through in headless
 * Chromium at a phone's width (390 px) and at a desktop's (1280 px): editing
 * clients and API keys, private_key_jwt clients (JWKS and jwks_uri), the
 * scope picker's privileged scopes, lifetimes with their default and
 * maximum, a session that survives a reload but not a new tab, revoking all
 * of a client's tokens. At every step nothing sticks out of the viewport
 * sideways, and the page logs no error; the screenshots (in
 * test-artifacts/console-layout/) are as wide as the viewport.
 */

const SHOTS = join(import.meta.dirname, "..", "..", "test-artifacts", "console-layout");
const admin = testClient("console-admin", ["tokensmith:admin", "tokensmith:tenants"]);
const orders = testClient("orders-service", ["orders:read", "orders:write"]);
const reader = testClient("introspector", ["token:introspect"]);
const publicJwk = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" };
/** A declared trusted issuer with long values, so the Trusted issuers tab has a row (a card at 390 px) to lay out. */
const declaredIssuer = {
  issuer: "https://token.actions.githubusercontent.example/my-organisation-with-a-long-name",
  jwks: { keys: [{ ...publicJwk, kid: "github-actions-signing-key-2026-12-04" }] },
  audiences: ["https://github.com/my-organisation-with-a-long-name"],
  subjectMapping: [{ subject: "repo:my-organisation-with-a-long-name/deployment-pipeline:ref:refs/heads/main", clientId: "orders-service", claims: { repository_owner: "my-organisation-with-a-long-name" } }],
};
describe.skipIf(!hasChromium)(
  hasChromium ? "the complete web console in headless Chromium" : `the complete web console in headless Chromium — SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`,
  () => {
    let tokensmith: RunningServer;
    let browser: Browser;
    const transport = () => createConnectTransport({ baseUrl: tokensmith.url, httpVersion: "1.1" });
    const tokens = () => tokenClient(transport());
    const adminRpc = async () => {
      const { accessToken } = await tokens().issueClientToken({ scopes: ["tokensmith:admin"] }, { headers: basic(admin.id, admin.secret) });
      const rpc = createClient(AdminService, transport());
      const headers = { headers: { authorization: `Bearer ${accessToken}` } };
      return {
        getClient: (id: string) => rpc.getClient({ id }, headers),
        createClient: (id: string, scopes: string[]) => rpc.createClient({ id, scopes }, headers),
        deleteClient: (id: string) => rpc.deleteClient({ id }, headers),
      };
    };
    const active = async (token: string) => (await tokens().introspect({ token }, { headers: basic(reader.id, reader.secret) })).active;

    beforeAll(async () => {
      await rm(SHOTS, { recursive: true, force: true });
      await mkdir(SHOTS, { recursive: true });
      tokensmith = await startTestServer({
        clients: [admin, orders, reader],
        config: {
          defaultTokenLifetimeSeconds: 300,
          maxTokenLifetimeSeconds: 600,
          apiKeys: [{ name: "legacy-backend", keyHash: hashSecret(generateSecret("api_key")), scopes: ["passkey:read"] }],
          signingKeys: { publishDelaySeconds: 60, rotateEveryDays: 0, refreshSeconds: 3600 },
          trustedIssuers: [declaredIssuer],
        },
      });
      browser = await launchChromium();
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await tokensmith?.close();
    });

    /** A tab of its own (a new browser context: its own sessionStorage) at `width` × `height`, collecting every error it logs. */
    async function openConsole(width: number, height: number) {
      const context = await browser.newContext({ viewport: { width, height } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(`console: ${message.text()}`);
      });
      page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
      await page.goto(`${tokensmith.url}/console`);
      return { context, page, errors };
    }

    async function signIn(page: Page): Promise<void> {
      await page.getByTestId("signin-client-id").fill(admin.id);
      await page.getByTestId("signin-secret").fill(admin.secret);
      await page.getByTestId("signin-submit").click();
      await page.locator('[data-testid=client-row][data-id="orders-service"]').waitFor({ timeout: WAIT_MS });
    }

    /** Clicks a privileged scope's box (or an Add that adds one), and answers its confirmation. */
    async function answerPrivileged(page: Page, click: () => Promise<void>, answer: "confirm-ok" | "confirm-cancel"): Promise<string> {
      await click();
      const confirm = page.getByTestId("confirm-dialog");
      await confirm.waitFor({ timeout: WAIT_MS });
      const message = await textOf(confirm.getByTestId("confirm-message"));
      await confirm.getByTestId(answer).click();
      await confirm.waitFor({ state: "detached", timeout: WAIT_MS });
      return message;
    }

    async function closeSecret(page: Page): Promise<string> {
      const dialog = page.getByTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      const secret = await textOf(dialog.getByTestId("secret-value"));
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });
      return secret;
    }

    it.each([
      [390, 844],
      [1280, 800],
    ])("at %i px: edits clients and API keys, creates private_key_jwt clients, resumes on reload, not in a new tab, revokes all; nothing overflows, nothing logged", async (width, height) => {
      const { context, page, errors } = await openConsole(width, height);
      const byTestId = (id: string) => page.getByTestId(id);
      const shots: string[] = [];
      /** Nothing wider than the viewport at this step; a screenshot of it. */
      const fits = async (step: string) => {
        const layout = await horizontalOverflow(page);
        expect(layout.viewport, step).toBe(width);
        expect(layout.overflowing, step).toEqual([]);
        expect(layout.scrollWidth, step).toBeLessThanOrEqual(width);
        const path = join(SHOTS, `${width}-${String(shots.length + 1).padStart(2, "0")}-${step}.png`);
        const scrolled = await page.evaluate(() => [window.scrollX, window.scrollY] as const);
        await page.screenshot({ path, fullPage: true });
        shots.push(path);
        // A full-page screenshot resizes the viewport for a moment: let the page settle back where it was before the next click.
        await page.evaluate(
          ([x, y]) => new Promise<void>((resolve) => requestAnimationFrame(() => (window.scrollTo(x, y), requestAnimationFrame(() => resolve())))),
          scrolled,
        );
      };
      const id = (name: string) => `${name}-${width}`;
      const rowOf = (testid: string, key: "id" | "name", value: string) => page.locator(`[data-testid=${testid}-row][data-${key}="${value}"]`);
      try {
        await byTestId("signin-form").waitFor({ timeout: WAIT_MS });
        await fits("sign-in");
        await signIn(page);
        await fits("clients");

        // Every tab, and every form it opens with a New button.
        const tabs = await page.getByRole("tab").evaluateAll((buttons) => buttons.map((button) => (button as HTMLElement).dataset.testid!));
        expect(tabs).toEqual(expect.arrayContaining(["tab-clients", "tab-api-keys", "tab-signing-keys", "tab-access-tokens", "tab-trusted-issuers", "tab-audit", "tab-tenants"]));
        for (const tab of tabs) {
          await byTestId(tab).click();
          await page.locator("[data-testid=panel] section").waitFor({ timeout: WAIT_MS });
          await page.waitForFunction(() => document.querySelector("[data-testid=panel] [data-state=loading]") === null, undefined, { timeout: WAIT_MS });
          await fits(tab);
          const forms = await page.locator('[data-testid=panel] button[data-testid$="-new"]').evaluateAll((buttons) => buttons.map((button) => (button as HTMLElement).dataset.testid!));
          for (const button of forms) {
            await byTestId(button).click();
            const form = page.locator("[data-testid=panel] form");
            await form.waitFor({ timeout: WAIT_MS });
            await fits(`${button}-form`);
            await form.locator('button[data-testid$="-cancel"]').click();
          }
        }

        // A client with a secret; the lifetime field tells the default and the maximum.
        await byTestId("tab-clients").click();
        await byTestId("client-new").click();
        const form = byTestId("client-form");
        await form.locator('[data-testid=scope-option][data-scope="orders:read"]').waitFor({ timeout: WAIT_MS });
        await expect.poll(() => byTestId("client-lifetime").getAttribute("placeholder"), { timeout: WAIT_MS }).toBe("default 300 s, at most 600 s");
        expect(await byTestId("client-lifetime").getAttribute("max")).toBe("600");
        expect(await textOf(byTestId("client-lifetime-limits"))).toBe(" — empty: default 300 s; at most 600 s");
        // Tokensmith's own privileged scopes are offered, marked.
        const privileged = await form.locator("[data-testid=scope-option]:has([data-testid=scope-privileged])").evaluateAll((options) => options.map((option) => (option as HTMLElement).dataset.scope));
        expect(privileged).toEqual(["grant:consume", "token:delete", "token:introspect", "tokensmith:admin", "tokensmith:tenants"]);
        await byTestId("client-id").fill(id("web"));
        await form.locator('[data-testid=scope-option][data-scope="orders:read"] input').check();
        await fits("client-form-filled");
        await byTestId("client-create").click();
        const secret = await closeSecret(page);
        expect(secret).toMatch(/^tks_cs_/);
        const webRow = rowOf("client", "id", id("web"));
        await webRow.waitFor({ timeout: WAIT_MS });
        expect((await tokens().issueClientToken({}, { headers: basic(id("web"), secret) })).expiresIn).toBe(300n);

        // Edit it: scopes (a privileged one, declined once, then confirmed) and the lifetime.
        await webRow.getByTestId("client-edit").click();
        const edit = byTestId("client-edit-form");
        await edit.waitFor({ timeout: WAIT_MS });
        expect(await edit.getAttribute("data-id")).toBe(id("web"));
        await expect.poll(() => byTestId("client-lifetime").inputValue()).toBe("300");
        const box = (scope: string) => edit.locator(`[data-testid=scope-option][data-scope="${scope}"] input`);
        await box("token:introspect").waitFor({ timeout: WAIT_MS });
        expect(await box("orders:read").isChecked()).toBe(true);
        const asked = await answerPrivileged(page, () => box("token:introspect").check(), "confirm-cancel");
        expect(asked).toContain("token:introspect reads every token of the tenant");
        expect(await box("token:introspect").isChecked()).toBe(false);
        await answerPrivileged(page, () => box("token:introspect").check(), "confirm-ok");
        expect(await box("token:introspect").isChecked()).toBe(true);
        await box("orders:read").uncheck();
        await box("orders:write").check();
        await byTestId("client-lifetime").fill("120");
        await fits("client-edit-form");
        await byTestId("client-save").click();
        await byTestId("notice").filter({ hasText: id("web") }).waitFor({ timeout: WAIT_MS });
        expect(await textOf(byTestId("notice"))).toBe(`Client "${id("web")}" was saved.`);
        expect(await edit.count()).toBe(0);
        await expect.poll(() => textOf(webRow)).toContain("120 s");
        const edited = await tokens().issueClientToken({}, { headers: basic(id("web"), secret) });
        expect(edited).toMatchObject({ scopes: ["orders:write", "token:introspect"], expiresIn: 120n });

        // private_key_jwt with a JWK Set: no secret.
        const rpc = await adminRpc();
        await byTestId("client-new").click();
        await byTestId("client-id").fill(id("signed"));
        expect(await byTestId("client-jwks").isVisible()).toBe(false);
        await byTestId("client-auth-method").selectOption("private_key_jwt");
        await byTestId("client-jwks").fill(JSON.stringify({ keys: [publicJwk] }, null, 2));
        await fits("client-form-jwks");
        await byTestId("client-create").click();
        await byTestId("notice").filter({ hasText: id("signed") }).waitFor({ timeout: WAIT_MS });
        expect(await byTestId("secret-dialog").count()).toBe(0);
        expect((await rpc.getClient(id("signed"))).client).toMatchObject({ tokenEndpointAuthMethods: ["private_key_jwt"], jwksJson: JSON.stringify({ keys: [publicJwk] }) });

        // ... and with a jwks_uri.
        await byTestId("client-new").click();
        await byTestId("client-id").fill(id("fetched"));
        await byTestId("client-auth-method").selectOption("private_key_jwt");
        await byTestId("client-jwks").fill("https://keys.example.com/jwks.json");
        await byTestId("client-create").click();
        await byTestId("notice").filter({ hasText: id("fetched") }).waitFor({ timeout: WAIT_MS });
        expect(await textOf(byTestId("notice"))).toBe(`Client "${id("fetched")}" was created; it authenticates with private_key_jwt and has no secret.`);
        expect((await rpc.getClient(id("fetched"))).client).toMatchObject({ tokenEndpointAuthMethods: ["private_key_jwt"], jwksUri: "https://keys.example.com/jwks.json", jwksJson: "" });
        const fetchedRow = rowOf("client", "id", id("fetched"));
        await fetchedRow.waitFor({ timeout: WAIT_MS });
        expect(await fetchedRow.getByTestId("client-rotate").count()).toBe(0);
        // Its edit form shows the method and the uri.
        await fetchedRow.getByTestId("client-edit").click();
        expect(await byTestId("client-auth-method").inputValue()).toBe("private_key_jwt");
        expect(await byTestId("client-jwks").inputValue()).toBe("https://keys.example.com/jwks.json");
        await byTestId("client-cancel").click();

        // An API key, created then edited; its lifetime field tells 30 and 300.
        await byTestId("tab-api-keys").click();
        await byTestId("api-key-new").click();
        await expect.poll(() => byTestId("api-key-lifetime").getAttribute("placeholder"), { timeout: WAIT_MS }).toBe("default 30 s, at most 300 s");
        await byTestId("api-key-name").fill(id("backend"));
        await byTestId("api-key-form").locator('[data-testid=scope-option][data-scope="passkey:read"] input').check();
        await byTestId("api-key-create").click();
        const apiKey = await closeSecret(page);
        const keyRow = rowOf("api-key", "name", id("backend"));
        await keyRow.waitFor({ timeout: WAIT_MS });
        expect(await textOf(keyRow)).toContain("30 s");
        await keyRow.getByTestId("api-key-edit").click();
        const keyEdit = byTestId("api-key-edit-form");
        await keyEdit.waitFor({ timeout: WAIT_MS });
        expect(await byTestId("api-key-lifetime").inputValue()).toBe("30");
        await byTestId("api-key-lifetime").fill("90");
        await keyEdit.getByTestId("scope-add-input").fill("orders:refund");
        await keyEdit.getByTestId("scope-add").click();
        await fits("api-key-edit-form");
        await byTestId("api-key-save").click();
        await byTestId("notice").filter({ hasText: "saved" }).waitFor({ timeout: WAIT_MS });
        expect(await textOf(byTestId("notice"))).toBe(`API key "${id("backend")}" was saved.`);
        await expect.poll(() => textOf(keyRow)).toContain("90 s");
        const grant = await tokens().issueGrant({ username: "alice", grants: ["orders:refund"] }, { headers: apiKeyAuth(apiKey) });
        expect(grant).toMatchObject({ grants: ["orders:refund"], expiresIn: 90n });

        // A reload resumes the session: the tab keeps the token, never a secret.
        await page.reload();
        await page.locator('[data-testid=client-row][data-id="orders-service"]').waitFor({ timeout: WAIT_MS });
        expect(await textOf(byTestId("signed-in-as"))).toContain(admin.id);
        const stored = await page.evaluate(() => ({ local: localStorage.length, session: Object.values(sessionStorage).join(" "), cookie: document.cookie }));
        expect(stored).toMatchObject({ local: 0, cookie: "" });
        expect(stored.session).toMatch(/"value":"ey/);
        for (const shown of [admin.secret, secret, apiKey]) expect(stored.session).not.toContain(shown);
        await fits("reloaded");

        // A new tab has no session.
        const other = await context.newPage();
        try {
          await other.goto(`${tokensmith.url}/console`);
          await other.getByTestId("signin-form").waitFor({ timeout: WAIT_MS });
          expect(await other.getByTestId("signed-in-as").count()).toBe(0);
        } finally {
          await other.close();
        }

        // Revoke all of the edited client's tokens.
        expect(await active(edited.accessToken)).toBe(true);
        await rowOf("client", "id", id("web")).getByTestId("client-revoke-tokens").click();
        await byTestId("confirm-dialog").waitFor({ timeout: WAIT_MS });
        await fits("confirm-revoke-all");
        await byTestId("confirm-ok").click();
        await byTestId("notice").filter({ hasText: "is now inactive" }).waitFor({ timeout: WAIT_MS });
        expect(await active(edited.accessToken)).toBe(false);
        await fits("revoked");

        // Signing out ends the session for a reload too.
        await byTestId("sign-out").click();
        await page.reload();
        await byTestId("signin-form").waitFor({ timeout: WAIT_MS });
        expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

        for (const path of shots) {
          const png = await pngSize(path);
          expect(png.width, path).toBe(width);
          expect(png.height, path).toBeGreaterThanOrEqual(height);
          expect(png.bytes, path).toBeGreaterThan(5_000);
        }
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    }, 120_000);

    it("a reload resumes a kept session only while its token is unexpired; an expired or malformed one is dropped", async () => {
      const { context, page, errors } = await openConsole(1280, 800);
      let kept: string;
      try {
        await signIn(page);
        kept = await page.evaluate(() => sessionStorage.getItem("tokensmith-console-session") ?? "");
        expect(JSON.parse(kept)).toMatchObject({ clientId: admin.id, scopes: ["tokensmith:admin", "tokensmith:tenants"] });
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
      /** A new tab that finds `stored` in its sessionStorage, its clock `aheadMs` later than now. */
      const reopen = async (stored: string, aheadMs: number) => {
        const reopened = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const tab = await reopened.newPage();
        await tab.clock.install({ time: Date.now() + aheadMs });
        await reopened.addInitScript((value) => {
          if (sessionStorage.getItem("tokensmith-console-session") === null && !sessionStorage.getItem("seeded")) {
            sessionStorage.setItem("tokensmith-console-session", value);
            sessionStorage.setItem("seeded", "yes");
          }
        }, stored);
        let adminCalls = 0;
        tab.on("request", (request) => void (request.url().includes("/tokensmith.v1.AdminService/") && adminCalls++));
        await tab.goto(`${tokensmith.url}/console`);
        await tab.locator("[data-testid=signed-in-as], [data-testid=signin-form]").waitFor({ timeout: WAIT_MS });
        if ((await tab.getByTestId("signed-in-as").count()) > 0) await tab.getByTestId("client-row").first().waitFor({ timeout: WAIT_MS });
        const state = {
          signedIn: await tab.getByTestId("signed-in-as").count(),
          message: (await tab.getByTestId("signin-message").count()) > 0 ? await textOf(tab.getByTestId("signin-message")) : undefined,
          kept: await tab.evaluate(() => sessionStorage.getItem("tokensmith-console-session")),
          calledAdmin: adminCalls > 0,
        };
        await reopened.close();
        return state;
      };
      expect(await reopen(kept, 0)).toEqual({ signedIn: 1, message: undefined, kept, calledAdmin: true });
      // The server's tokens live 300 s: 5 minutes later the kept token is past its use, and never sent.
      expect(await reopen(kept, 300_000)).toEqual({ signedIn: 0, message: "Your session has expired: sign in again.", kept: null, calledAdmin: false });
      expect(await reopen("{not json", 0)).toEqual({ signedIn: 0, message: undefined, kept: null, calledAdmin: false });
      expect(await reopen(JSON.stringify({ value: 1 }), 0)).toEqual({ signedIn: 0, message: undefined, kept: null, calledAdmin: false });
    }, 60_000);

    it("refuses in the page a JWK Set with a private key, an http jwks_uri and an invalid scope; switches a client between a secret and private_key_jwt; shows the server's NotFound when the client was deleted meanwhile", async () => {
      // Refused calls log console errors (the failed request): only script errors count here.
      const { context, page, errors } = await openConsole(390, 844);
      const byTestId = (id: string) => page.getByTestId(id);
      const pageErrors = () => errors.filter((error) => error.startsWith("page error"));
      const rpc = await adminRpc();
      try {
        await signIn(page);
        await byTestId("client-new").click();
        const form = byTestId("client-form");
        const formError = form.getByTestId("form-error");
        await byTestId("client-id").fill("leaky-keys");
        await byTestId("client-auth-method").selectOption("private_key_jwt");
        await byTestId("client-create").click();
        await formError.waitFor({ timeout: WAIT_MS });
        expect(await textOf(formError)).toMatch(/^private_key_jwt needs the client's public keys/);

        const privateJwk = { ...publicJwk, kid: "mine", d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" };
        await byTestId("client-jwks").fill(JSON.stringify({ keys: [privateJwk] }));
        await byTestId("client-create").click();
        await expect.poll(() => textOf(formError)).toBe('Key 1 (kid mine) is a private key (it has "d"): paste only the public keys (nothing was sent)');
        await byTestId("client-jwks").fill(JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }));
        await byTestId("client-create").click();
        await expect.poll(() => textOf(formError)).toMatch(/^Key 1 is a private key \(it has "k"\)/);
        await byTestId("client-jwks").fill('{"kty": "OKP"}');
        await byTestId("client-create").click();
        await expect.poll(() => textOf(formError)).toBe('The JWK Set must be a JSON object with a "keys" array');
        await byTestId("client-jwks").fill('{"keys": [');
        await byTestId("client-create").click();
        await expect.poll(() => textOf(formError)).toMatch(/^The JWK Set is not valid JSON/);
        await byTestId("client-jwks").fill("http://keys.example.com/jwks.json");
        await byTestId("client-create").click();
        await expect.poll(() => textOf(formError)).toBe("The jwks_uri must be an https URL (or paste a JWK Set as JSON)");
        await expectRpcError(rpc.getClient("leaky-keys"), Code.NotFound, "invalid_request");

        // An invalid scope is refused where it is typed; a privileged one typed in asks first, and declined it is not added.
        await form.getByTestId("scope-add-input").fill('orders:"read"');
        await form.getByTestId("scope-add").click();
        expect(await textOf(form.getByTestId("scope-add-error"))).toBe('Not a valid scope: orders:"read" (1-128 printable ASCII characters, no quotes or backslashes).');
        await form.getByTestId("scope-add-input").fill("token:delete");
        await answerPrivileged(page, () => form.getByTestId("scope-add").click(), "confirm-cancel");
        expect(await form.locator('[data-testid=scope-option][data-scope="token:delete"] input').isChecked()).toBe(false);
        await answerPrivileged(page, () => form.locator('[data-testid=scope-option][data-scope="tokensmith:admin"] input').check(), "confirm-cancel");
        expect(await form.locator("[data-testid=scope-option] input:checked").count()).toBe(0);
        await byTestId("client-cancel").click();

        // A config-declared client cannot be edited.
        expect(await page.locator('[data-testid=client-row][data-id="orders-service"] [data-testid=client-edit]').count()).toBe(0);

        // Saving an edit that changes nothing sends nothing (the scopes' order is no change).
        await rpc.createClient("steady", ["orders:write", "orders:read"]);
        await byTestId("clients-refresh").click();
        await page.locator('[data-testid=client-row][data-id="steady"] [data-testid=client-edit]').click();
        await byTestId("client-edit-form").locator('[data-testid=scope-option][data-scope="token:delete"]').waitFor({ timeout: WAIT_MS });
        await byTestId("client-save").click();
        await expect.poll(() => textOf(byTestId("client-edit-form").getByTestId("form-error"))).toBe("Nothing was changed");
        // From a secret to private_key_jwt: the keys checked in the page too; then back, and the console says a secret is to be issued.
        await byTestId("client-auth-method").selectOption("private_key_jwt");
        await byTestId("client-jwks").fill(JSON.stringify({ keys: [{ ...publicJwk, d: "x" }] }));
        await byTestId("client-save").click();
        await expect.poll(() => textOf(byTestId("client-edit-form").getByTestId("form-error"))).toMatch(/^Key 1 is a private key/);
        await byTestId("client-jwks").fill(JSON.stringify({ keys: [publicJwk] }));
        await byTestId("client-save").click();
        await byTestId("notice").filter({ hasText: "steady" }).waitFor({ timeout: WAIT_MS });
        expect((await rpc.getClient("steady")).client).toMatchObject({ tokenEndpointAuthMethods: ["private_key_jwt"], jwksJson: JSON.stringify({ keys: [publicJwk] }), scopes: ["orders:write", "orders:read"] });
        const steady = page.locator('[data-testid=client-row][data-id="steady"]');
        await expect.poll(() => textOf(steady.getByTestId("client-auth-methods"))).toBe("private_key_jwt");
        await steady.getByTestId("client-edit").click();
        await byTestId("client-auth-method").selectOption("client_secret_basic");
        await byTestId("client-save").click();
        await expect.poll(() => textOf(byTestId("notice"))).toBe('Client "steady" was saved. It has no secret yet: Rotate secret issues one.');
        await steady.getByTestId("client-rotate").waitFor({ timeout: WAIT_MS });

        // Deleted between opening its form and saving: the server's NotFound, in the form.
        await rpc.createClient("doomed", ["orders:read"]);
        await byTestId("clients-refresh").click();
        await page.locator('[data-testid=client-row][data-id="doomed"] [data-testid=client-edit]').click();
        await byTestId("client-audiences").fill("https://api.example.com");
        await rpc.deleteClient("doomed");
        await byTestId("client-save").click();
        const editError = byTestId("client-edit-form").getByTestId("form-error");
        await editError.waitFor({ timeout: WAIT_MS });
        expect(await textOf(editError)).toBe('invalid_request: client "doomed" not found (NotFound)');
        await byTestId("client-cancel").click();
        await page.locator('[data-testid=client-row][data-id="introspector"]').waitFor({ timeout: WAIT_MS });
        expect(await byTestId("signed-in-as").isVisible()).toBe(true);

        await byTestId("tab-api-keys").click();
        const legacy = page.locator('[data-testid=api-key-row][data-name="legacy-backend"]');
        await legacy.waitFor({ timeout: WAIT_MS });
        expect(await legacy.getByTestId("api-key-edit").count()).toBe(0);
        expect(pageErrors()).toEqual([]);
      } finally {
        await context.close();
      }
    }, 60_000);
  },
);
