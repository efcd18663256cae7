import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";
import { CHROMIUM, hasChromium, textOf, useConsolePage, WAIT_MS } from "./support/chromium.js";

/**
 * The console's Access tokens tab (issue 21 item 4), clicked through in
 * headless Chromium: pick a client, a name, some of its scopes and a
 * lifetime; the token is shown once and works at POST /oauth2/introspect;
 * the list shows it by name; Revoke, once confirmed, ends it. Screenshots go
 * to test-artifacts/console-access-tokens/.
 */

const SHOTS = join(import.meta.dirname, "..", "..", "test-artifacts", "console-access-tokens");

const admin = testClient("console-admin", ["tokensmith:admin"]);
const reporting = testClient("reporting", ["reports:read", "reports:write"]);
const resourceServer = testClient("resource-server", ["token:introspect"]);

describe.skipIf(!hasChromium)(
  hasChromium ? "the console's Access tokens tab in headless Chromium" : `the console's Access tokens tab — SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`,
  () => {
    const suite = useConsolePage(SHOTS, () => startTestServer({ clients: [admin, reporting, resourceServer] }));
    const byTestId = (id: string) => suite.page.getByTestId(id);
    const rowNamed = (name: string) => suite.page.locator(`[data-testid=access-token-row][data-name="${name}"]`);

    /** RFC 7662 introspection over HTTP, as a resource server does it. */
    async function introspect(token: string): Promise<Record<string, unknown>> {
      const response = await fetch(`${suite.tokensmith.url}/oauth2/introspect`, {
        method: "POST",
        headers: { ...basic(resourceServer.id, resourceServer.secret), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    }

    let token = "";

    it("signs in and shows the Access tokens tab, empty", async () => {
      await suite.page.goto(`${suite.tokensmith.url}/console`);
      await byTestId("signin-client-id").fill(admin.id);
      await byTestId("signin-secret").fill(admin.secret);
      await byTestId("signin-submit").click();
      await byTestId("tab-access-tokens").click();
      await byTestId("access-tokens-empty").waitFor({ timeout: WAIT_MS });
      await suite.shot("01-empty");
    });

    it("creates a named token: client picked, some of its scopes, a lifetime; the token is shown once with a copy button", async () => {
      await byTestId("access-token-new").click();
      const form = byTestId("access-token-form");
      await form.locator(`[data-testid=access-token-client] option[value="${reporting.id}"]`).waitFor({ state: "attached", timeout: WAIT_MS });
      await byTestId("access-token-client").selectOption(reporting.id);
      const scopeOption = (scope: string) => form.locator(`[data-testid=access-token-scope][data-scope="${scope}"] input`);
      await scopeOption("reports:read").waitFor({ timeout: WAIT_MS });
      // Only the picked client's scopes are offered, all ticked (none picked would mean all of them to the server).
      const offered = await Promise.all((await form.getByTestId("access-token-scope").all()).map((option) => option.getAttribute("data-scope")));
      expect(offered).toEqual(["reports:read", "reports:write"]);
      expect(await scopeOption("reports:write").isChecked()).toBe(true);
      await scopeOption("reports:write").uncheck();
      await byTestId("access-token-name").fill("nightly export");
      await byTestId("access-token-lifetime").fill("120");
      await suite.shot("02-form");
      await byTestId("access-token-create").click();

      const dialog = byTestId("secret-dialog");
      await dialog.waitFor({ timeout: WAIT_MS });
      token = await textOf(dialog.getByTestId("secret-value"));
      expect(token.split(".")).toHaveLength(3);
      expect(await textOf(dialog.getByTestId("secret-once-note"))).toContain("it will not be shown again");
      expect(await textOf(dialog)).toContain("nightly export");
      await dialog.getByTestId("secret-copy").click();
      await expect.poll(() => textOf(dialog.getByTestId("secret-copy-status"))).not.toBe("");
      await suite.shot("03-token-shown-once");
      await dialog.getByTestId("secret-close").click();
      await dialog.waitFor({ state: "detached", timeout: WAIT_MS });

      const row = rowNamed("nightly export");
      await row.waitFor({ timeout: WAIT_MS });
      expect(await row.getAttribute("data-client-id")).toBe(reporting.id);
      expect(await textOf(row)).toContain("reports:read");
      expect(await textOf(row)).not.toContain("reports:write");
      expect(await suite.page.content()).not.toContain(token);
      await suite.shot("04-listed");
    });

    it("the token shown introspects active at POST /oauth2/introspect, for its client with the scopes picked", async () => {
      expect(await introspect(token)).toMatchObject({ active: true, client_id: reporting.id, sub: reporting.id, scope: "reports:read" });
    });

    it("a name the client's live tokens use is refused in the form, which stays open", async () => {
      const tokens = tokenClient(createConnectTransport({ baseUrl: suite.tokensmith.url, httpVersion: "1.1" }));
      const { accessToken } = await tokens.issueClientToken({ scopes: ["tokensmith:admin"] }, { headers: basic(admin.id, admin.secret) });
      const adminRpc = createClient(AdminService, createConnectTransport({ baseUrl: suite.tokensmith.url, httpVersion: "1.1" }));
      await adminRpc.createAccessToken({ clientId: reporting.id, name: "taken" }, { headers: { authorization: `Bearer ${accessToken}` } });

      await byTestId("access-token-new").click();
      await suite.page.locator(`[data-testid=access-token-client] option[value="${reporting.id}"]`).waitFor({ state: "attached", timeout: WAIT_MS });
      await byTestId("access-token-client").selectOption(reporting.id);
      await byTestId("access-token-name").fill("taken");
      await byTestId("access-token-create").click();
      const error = byTestId("access-token-form").getByTestId("form-error");
      await error.waitFor({ timeout: WAIT_MS });
      expect(await textOf(error)).toMatch(/already exists/);
      await byTestId("access-token-cancel").click();
      await byTestId("access-tokens-refresh").click();
      await rowNamed("taken").waitFor({ timeout: WAIT_MS });
    });

    it("Revoke asks first; cancelled nothing happens, confirmed the token is listed no more and introspects inactive", async () => {
      const row = rowNamed("nightly export");
      const confirm = byTestId("confirm-dialog");
      await row.getByTestId("access-token-revoke").click();
      await confirm.waitFor({ timeout: WAIT_MS });
      expect(await textOf(confirm.getByTestId("confirm-message"))).toContain("nightly export");
      await confirm.getByTestId("confirm-cancel").click();
      await confirm.waitFor({ state: "detached", timeout: WAIT_MS });
      expect((await introspect(token)).active).toBe(true);

      await row.getByTestId("access-token-revoke").click();
      await suite.shot("05-confirm-revoke");
      await confirm.getByTestId("confirm-ok").click();
      await row.waitFor({ state: "detached", timeout: WAIT_MS });
      expect(await textOf(byTestId("notice"))).toBe(`Access token "nightly export" of client "${reporting.id}" was revoked.`);
      expect(await introspect(token)).toEqual({ active: false });
      await suite.shot("06-revoked");
    });

    it("had no script error and no CSP violation", () => {
      expect(suite.problems).toEqual([]);
    });
  },
);
