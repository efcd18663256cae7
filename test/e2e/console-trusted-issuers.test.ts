import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { decodeJwt } from "../support/admin.js";
import { assertionForm, generateClientKey, postForm, signAssertion, type HttpResult } from "../support/oauth.js";
import { basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";
import { CHROMIUM, hasChromium, textOf, useConsolePage, WAIT_MS } from "./support/chromium.js";

/**
 * The console's Trusted issuers tab (workload identity federation), clicked
 * through in headless Chromium: issuers created with a JWK Set and with a
 * jwks_uri are listed with their keys, audiences and subject mappings; a
 * declared one is read-only; a private key is refused in the page, a
 * duplicate by the server; the issuer created in the page really
 * authenticates its mapped federated_jwt client at /oauth2/token, and no
 * longer once deleted there. Screenshots go to test-artifacts/console-trusted-issuers/.
 */

const SHOTS = join(import.meta.dirname, "..", "..", "test-artifacts", "console-trusted-issuers");

const CI = "https://ci.example";
const BY_URI = "https://uri.example";
const DECLARED = "https://declared.example";
const JWKS_URI = "https://keys.example/jwks.json";

const [ciKey, declaredKey] = await Promise.all([generateClientKey("ES256"), generateClientKey("RS256")]);
const admin = testClient("console-admin", ["tokensmith:admin"]);
const orders = testClient("orders-service", ["orders:read"]);

describe.skipIf(!hasChromium)(
  hasChromium ? "the console's Trusted issuers tab in headless Chromium" : `the console's Trusted issuers tab — SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`,
  () => {
    const suite = useConsolePage(SHOTS, () =>
      startTestServer({
        clients: [admin, orders],
        config: {
          clients: [{ id: "deployer", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["deploy:production"] }],
          trustedIssuers: [{ issuer: DECLARED, jwks: { keys: [declaredKey.publicJwk] }, audiences: ["tokensmith"], subjectMapping: [{ subject: "declared:*", clientId: "deployer" }] }],
        },
      }),
    );
    const byTestId = (id: string) => suite.page.getByTestId(id);
    const rowOf = (issuer: string) => suite.page.locator(`[data-testid=trusted-issuer-row][data-issuer="${issuer}"]`);

    const adminRpc = async () => {
      const transport = createConnectTransport({ baseUrl: suite.tokensmith.url, httpVersion: "1.1" });
      const { accessToken } = await tokenClient(transport).issueClientToken({ scopes: ["tokensmith:admin"] }, { headers: basic(admin.id, admin.secret) });
      return { rpc: createClient(AdminService, transport), call: { headers: { authorization: `Bearer ${accessToken}` } } };
    };
    const listedIssuers = async () => {
      const { rpc, call } = await adminRpc();
      return (await rpc.listTrustedIssuers({}, call)).trustedIssuers.map((info) => info.issuer);
    };

    /** A platform token of the CI issuer, as a workload presents it: client credentials with it as the client assertion. */
    async function authenticateAsWorkload(subject: string, claims: Record<string, unknown> = {}): Promise<HttpResult> {
      const now = Math.floor(Date.now() / 1000);
      const token = await signAssertion(ciKey, { iss: CI, sub: subject, aud: "tokensmith", repository_owner: "org", iat: now - 5, exp: now + 300, jti: randomUUID(), ...claims });
      return postForm(`${suite.tokensmith.url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(token) });
    }
    const clientIdIssued = (result: HttpResult) => {
      expect(result.status, result.text).toBe(200);
      return decodeJwt((result.json as { access_token: string }).access_token).payload.client_id;
    };
    const refused = (result: HttpResult) => expect({ status: result.status, error: (result.json as { error?: string }).error }).toEqual({ status: 401, error: "invalid_client" });

    /** Fills mapping row `index` (0-based) of the open form. */
    async function fillMapping(index: number, mapping: { subject: string; client: string; claims?: string }): Promise<void> {
      const row = byTestId("trusted-issuer-mapping").nth(index);
      await row.getByTestId("mapping-subject").fill(mapping.subject);
      await row.getByTestId("mapping-client").fill(mapping.client);
      if (mapping.claims !== undefined) await row.getByTestId("mapping-claims").fill(mapping.claims);
    }

    // A stored federated_jwt client too: the form offers both kinds.
    beforeAll(async () => {
      const { rpc, call } = await adminRpc();
      await rpc.createClient({ id: "releaser", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["release:publish"] }, call);
    });

    it("signs in and lists the declared issuer read-only: its key id, audience and mapping, no Delete", async () => {
      await suite.page.goto(`${suite.tokensmith.url}/console`);
      await byTestId("signin-client-id").fill(admin.id);
      await byTestId("signin-secret").fill(admin.secret);
      await byTestId("signin-submit").click();
      await byTestId("tab-trusted-issuers").click();
      const declared = rowOf(DECLARED);
      await declared.waitFor({ timeout: WAIT_MS });
      expect(await declared.getAttribute("data-source")).toBe("config");
      expect(await declared.getByTestId("read-only").count()).toBe(1);
      expect(await declared.getByTestId("trusted-issuer-delete").count()).toBe(0);
      expect(await textOf(declared.getByTestId("trusted-issuer-keys"))).toContain(declaredKey.kid);
      expect(await textOf(declared)).toContain("tokensmith");
      expect(await textOf(declared.getByTestId("subject-mapping"))).toMatch(/declared:\*\s*→\s*deployer/);
      await suite.shot("01-declared");
    });

    it("the form offers the tenant's federated_jwt clients, and refuses a JWK Set with a private key in the page: nothing sent", async () => {
      await byTestId("trusted-issuer-new").click();
      const form = byTestId("trusted-issuer-form");
      await form.waitFor({ timeout: WAIT_MS });
      await expect
        .poll(() => form.locator("[data-testid=trusted-issuer-clients] option").evaluateAll((options) => options.map((option) => option.getAttribute("value"))), { timeout: WAIT_MS })
        .toEqual(["deployer", "releaser"]);
      await byTestId("trusted-issuer-issuer").fill(CI);
      await byTestId("trusted-issuer-jwks").fill(JSON.stringify({ keys: [{ ...ciKey.publicJwk, d: "c2VjcmV0" }] }));
      await byTestId("trusted-issuer-audiences").fill("tokensmith");
      await fillMapping(0, { subject: "repo:org/app:*", client: "deployer" });
      await byTestId("trusted-issuer-create").click();
      const error = form.getByTestId("form-error");
      await expect.poll(() => textOf(error)).toBe(`Key 1 (kid ${ciKey.kid}) is a private key (it has "d"): paste only the public keys (nothing was sent)`);
      await suite.shot("02-private-key-refused");
      expect(await listedIssuers()).toEqual([DECLARED]);
    });

    it("creates an issuer with a JWK Set and two subject mappings (a row added, another added and removed); it is listed", async () => {
      await byTestId("trusted-issuer-jwks").fill(JSON.stringify({ keys: [ciKey.publicJwk] }, null, 2));
      await fillMapping(0, { subject: "repo:org/app:*", client: "deployer", claims: "repository_owner=org" });
      await byTestId("trusted-issuer-add-mapping").click();
      await fillMapping(1, { subject: "release:bot", client: "releaser" });
      await byTestId("trusted-issuer-add-mapping").click();
      await fillMapping(2, { subject: "unwanted", client: "deployer" });
      expect(await byTestId("trusted-issuer-mapping").count()).toBe(3);
      await byTestId("trusted-issuer-mapping").nth(2).getByTestId("mapping-remove").click();
      expect(await byTestId("trusted-issuer-mapping").count()).toBe(2);
      await suite.shot("03-form-filled");
      await byTestId("trusted-issuer-create").click();
      await byTestId("notice").filter({ hasText: CI }).waitFor({ timeout: WAIT_MS });
      expect(await textOf(byTestId("notice"))).toBe(`Trusted issuer "${CI}" was created.`);
      expect(await byTestId("trusted-issuer-form").count()).toBe(0);

      const row = rowOf(CI);
      await row.waitFor({ timeout: WAIT_MS });
      expect(await row.getAttribute("data-source")).toBe("store");
      expect(await textOf(row.getByTestId("trusted-issuer-keys"))).toContain(ciKey.kid);
      const mappings = await row.getByTestId("subject-mapping").allTextContents();
      expect(mappings).toHaveLength(2);
      expect(mappings[0]).toMatch(/repo:org\/app:\*\s*→\s*deployer/);
      expect(mappings[0]).toContain("repository_owner=org");
      expect(mappings[1]).toMatch(/release:bot\s*→\s*releaser/);
      await suite.shot("04-listed");
    });

    it("the issuer created in the page is trusted: its platform token authenticates the mapped federated_jwt clients at /oauth2/token, its claim condition holds", async () => {
      expect(clientIdIssued(await authenticateAsWorkload("repo:org/app:ref:refs/heads/main"))).toBe("deployer");
      expect(clientIdIssued(await authenticateAsWorkload("release:bot"))).toBe("releaser");
      refused(await authenticateAsWorkload("repo:org/app:ref:refs/heads/main", { repository_owner: "evil" }));
      refused(await authenticateAsWorkload("unwanted"));
    });

    it("creates an issuer with a jwks_uri: listed with the URI", async () => {
      await byTestId("trusted-issuer-new").click();
      await byTestId("trusted-issuer-issuer").fill(BY_URI);
      await byTestId("trusted-issuer-jwks").fill(JWKS_URI);
      await byTestId("trusted-issuer-audiences").fill("tokensmith https://api.example");
      await fillMapping(0, { subject: "workload:ci", client: "releaser" });
      await byTestId("trusted-issuer-create").click();
      const row = rowOf(BY_URI);
      await row.waitFor({ timeout: WAIT_MS });
      expect(await textOf(row.getByTestId("trusted-issuer-keys"))).toBe(JWKS_URI);
      expect(await textOf(row)).toContain("https://api.example");
      const { rpc, call } = await adminRpc();
      const created = (await rpc.listTrustedIssuers({}, call)).trustedIssuers.find((info) => info.issuer === BY_URI);
      expect(created).toMatchObject({ jwksUri: JWKS_URI, jwksJson: "", audiences: ["tokensmith", "https://api.example"] });
    });

    it("the server's refusals show in the form, which stays open: AlreadyExists for an issuer trusted already, InvalidArgument for a bare * subject", async () => {
      await byTestId("trusted-issuer-new").click();
      const form = byTestId("trusted-issuer-form");
      const error = form.getByTestId("form-error");
      await byTestId("trusted-issuer-issuer").fill(DECLARED);
      await byTestId("trusted-issuer-jwks").fill(JSON.stringify({ keys: [ciKey.publicJwk] }));
      await byTestId("trusted-issuer-audiences").fill("tokensmith");
      await fillMapping(0, { subject: "declared:x", client: "deployer" });
      await byTestId("trusted-issuer-create").click();
      await expect.poll(() => textOf(error)).toBe(`invalid_request: trusted issuer "${DECLARED}" already exists (AlreadyExists)`);
      await suite.shot("05-duplicate-refused");

      await byTestId("trusted-issuer-issuer").fill("https://everyone.example");
      await fillMapping(0, { subject: "*", client: "deployer" });
      await byTestId("trusted-issuer-create").click();
      await expect.poll(() => textOf(error)).toMatch(/^invalid_request: .*bare \*.*\(InvalidArgument\)$/);
      // A claim condition was dropped without a word (the issuer created without it) when named __proto__ or given twice.
      await fillMapping(0, { subject: "proto:x", client: "deployer", claims: "__proto__=x" });
      await byTestId("trusted-issuer-create").click();
      await expect.poll(() => textOf(error)).toMatch(/^invalid_request: .*__proto__.*\(InvalidArgument\)$/);
      await fillMapping(0, { subject: "twice:x", client: "deployer", claims: "owner=org owner=other" });
      await byTestId("trusted-issuer-create").click();
      await expect.poll(() => textOf(error)).toBe('Subject mapping 1: the claim "owner" is given twice: give each claim once');
      expect(await form.isVisible()).toBe(true);
      await byTestId("trusted-issuer-cancel").click();
      // Listed by issuer.
      expect(await listedIssuers()).toEqual([CI, DECLARED, BY_URI]);
    });

    it("Delete asks first; confirmed, the row is gone and the issuer's tokens no longer authenticate", async () => {
      const row = rowOf(CI);
      await row.getByTestId("trusted-issuer-delete").click();
      const confirm = byTestId("confirm-dialog");
      await confirm.waitFor({ timeout: WAIT_MS });
      expect(await textOf(confirm.getByTestId("confirm-message"))).toContain(CI);
      await confirm.getByTestId("confirm-cancel").click();
      await confirm.waitFor({ state: "detached", timeout: WAIT_MS });
      expect(clientIdIssued(await authenticateAsWorkload("release:bot"))).toBe("releaser");

      await row.getByTestId("trusted-issuer-delete").click();
      await suite.shot("06-confirm-delete");
      await confirm.getByTestId("confirm-ok").click();
      await row.waitFor({ state: "detached", timeout: WAIT_MS });
      expect(await textOf(byTestId("notice"))).toBe(`Trusted issuer "${CI}" was deleted.`);
      refused(await authenticateAsWorkload("release:bot"));
      refused(await authenticateAsWorkload("repo:org/app:ref:refs/heads/main"));
      expect(await listedIssuers()).toEqual([DECLARED, BY_URI]);
      await suite.shot("07-deleted");
    });

    it("had no script error and no CSP violation", () => {
      expect(suite.problems).toEqual([]);
    });
  },
);
