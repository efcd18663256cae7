/**
 * The Tokensmith web console (served at /console from static/console/app.js,
 * the bundle `npm run build:console` makes). Plain DOM code on Connect-Web: it calls the
 * TokenService to sign in and the AdminService for everything else, on the
 * origin that served it. No framework; the session's token is kept in the
 * tab's sessionStorage (never the secret), so a reload resumes the session.
 */
import { ADMIN_SCOPE, TENANTS_SCOPE } from "../domain/scopes.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";
import { accessTokensView } from "./access-tokens.js";
import { apiKeysView } from "./api-keys.js";
import { auditView } from "./audit.js";
import { clientsView } from "./clients.js";
import { formatDate, h } from "./dom.js";
import { describeError, Session } from "./session.js";
import { signingKeysView } from "./signing-keys.js";
import { TenantPicker } from "./tenant-picker.js";
import { tenantsView } from "./tenants.js";
import { trustedIssuersView } from "./trusted-issuers.js";
import type { View, ViewContext } from "./view.js";

type Tab = "clients" | "api-keys" | "signing-keys" | "tenants" | "access-tokens" | "trusted-issuers" | "audit";
/** The tabs that manage one tenant (the one picked, for a platform administrator). */
const TENANT_TABS: Array<{ tab: Tab; label: string; view: (context: ViewContext) => View }> = [
  { tab: "clients", label: "Clients", view: clientsView },
  { tab: "api-keys", label: "API keys", view: apiKeysView },
  { tab: "signing-keys", label: "Signing keys", view: signingKeysView },
  { tab: "access-tokens", label: "Access tokens", view: accessTokensView },
  { tab: "trusted-issuers", label: "Trusted issuers", view: trustedIssuersView },
  { tab: "audit", label: "Audit", view: auditView },
];

const root = document.getElementById("app") ?? document.body.appendChild(h("div", { id: "app" }));
let currentTab: Tab = "clients";
let lastClientId = "";

const session = new Session(location.origin, (reason) => showSignIn(reason));

function showSignIn(message?: string): void {
  const clientId = h("input", { type: "text", testid: "signin-client-id", name: "username", autocomplete: "username", required: true, spellcheck: false, value: lastClientId });
  const secret = h("input", { type: "password", testid: "signin-secret", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary", testid: "signin-submit" }, "Sign in");
  const error = h("p", { class: "form-error", testid: "signin-error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "card", testid: "signin-form" },
    h("h1", {}, "Tokensmith console"),
    h(
      "p",
      { class: "hint" },
      "Sign in with the id and secret of a client that holds the scope ",
      h("code", {}, ADMIN_SCOPE),
      ", or ",
      h("code", {}, TENANTS_SCOPE),
      " to administer every tenant.",
    ),
    message ? h("p", { class: "message", testid: "signin-message" }, message) : null,
    h("label", {}, "Client ID", clientId),
    h("label", {}, "Client secret", secret),
    submit,
    error,
  );
  form.onsubmit = async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await session.signIn(clientId.value.trim(), secret.value);
      lastClientId = clientId.value.trim();
      secret.value = "";
      showConsole();
    } catch (failure) {
      const described = describeError(failure);
      error.textContent = `Sign-in failed: ${described.text}`;
      if (described.oauthError) error.dataset.oauthError = described.oauthError;
      error.dataset.code = described.code;
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = "Sign in";
      secret.select();
    }
  };
  root.replaceChildren(h("main", { class: "signin" }, form));
  document.title = "Sign in — Tokensmith console";
  (lastClientId ? secret : clientId).focus();
}

function showConsole(): void {
  const errorBanner = h("div", { class: "banner error", testid: "error", role: "alert", hidden: true });
  const noticeBanner = h("div", { class: "banner notice", testid: "notice", role: "status", hidden: true });
  const panel = h("main", { class: "panel", testid: "panel" });
  const banners: Omit<ViewContext, "admin" | "tenant"> = {
    fail(doing, error) {
      const described = describeError(error);
      noticeBanner.hidden = true;
      errorBanner.textContent = `${doing} failed: ${described.text}`;
      if (described.oauthError) errorBanner.dataset.oauthError = described.oauthError;
      else delete errorBanner.dataset.oauthError;
      errorBanner.hidden = false;
    },
    notice(text) {
      errorBanner.hidden = true;
      noticeBanner.textContent = text;
      noticeBanner.hidden = false;
    },
    clearBanners() {
      errorBanner.hidden = true;
      noticeBanner.hidden = true;
    },
  };
  /**
   * What a tab of `tenant` calls: the default tenant's AdminService, or another's by the tokensmith-tenant
   * header. A tenant that refuses the session may have been deleted meanwhile: the tenants are listed again.
   */
  const contextOf = (tenant: string): ViewContext => ({
    ...banners,
    tenant,
    admin: session.adminOf(tenant),
    fail(doing, error) {
      banners.fail(doing, error);
      if (tenant !== DEFAULT_TENANT && describeError(error).code === "Unauthenticated") void picker?.refresh();
    },
  });

  // A platform administrator picks the tenant that the other tabs manage, and has a Tenants tab.
  const platform = session.platformAdministrator;
  // Picking a tenant shows its clients (from the Tenants tab too); one deleted meanwhile gives way to the default where the tab is.
  const onChoose = (_tenant: string, gone?: string) => {
    if (currentTab !== "tenants") select(currentTab);
    else if (gone === undefined) select("clients");
    if (gone !== undefined) banners.notice(`Tenant "${gone}" no longer exists: the console manages the default tenant.`);
  };
  const picker = platform ? new TenantPicker(session.admin, onChoose, banners.fail) : undefined;
  const tenantBar = h("p", { class: "tenant-bar", testid: "current-tenant", role: "status", hidden: true });
  const tabs: Array<{ tab: Tab; label: string; view: () => View }> = [
    ...TENANT_TABS.map(({ tab, label, view }) => ({ tab, label, view: () => view(contextOf(picker?.chosen ?? DEFAULT_TENANT)) })),
    ...(picker
      ? [
          {
            tab: "tenants" as const,
            label: "Tenants",
            view: () => tenantsView(contextOf(DEFAULT_TENANT), { changed: () => void picker.refresh(), manage: (id) => picker.choose(id) }),
          },
        ]
      : []),
  ];
  // The last tab shown, if this session has it; a platform administrator without tokensmith:admin has only the Tenants tab in the default tenant.
  if (!tabs.some((entry) => entry.tab === currentTab)) currentTab = "clients";
  if (platform && !session.holds(ADMIN_SCOPE)) currentTab = "tenants";

  const tabButtons = tabs.map(({ tab, label }) => {
    const button = h("button", { type: "button", role: "tab", testid: `tab-${tab}` }, label);
    button.onclick = () => select(tab);
    return button;
  });
  function select(tab: Tab): void {
    currentTab = tab;
    banners.clearBanners();
    tabs.forEach((entry, index) => tabButtons[index]!.setAttribute("aria-selected", String(entry.tab === tab)));
    showTenant(tab === "tenants" ? undefined : (picker?.chosen ?? DEFAULT_TENANT));
    panel.replaceChildren(tabs.find((entry) => entry.tab === tab)!.view().element);
  }
  /** Says which tenant the tab manages (to platform administrators, who can pick another). */
  function showTenant(tenant: string | undefined): void {
    document.title = tenant !== undefined && tenant !== DEFAULT_TENANT ? `${tenant} — Tokensmith console` : "Tokensmith console";
    tenantBar.hidden = picker === undefined || tenant === undefined;
    if (tenantBar.hidden || tenant === undefined) return;
    const described = picker?.describe(tenant);
    tenantBar.dataset.tenant = tenant;
    tenantBar.classList.toggle("elsewhere", tenant !== DEFAULT_TENANT);
    tenantBar.replaceChildren(
      "Managing tenant ",
      h("strong", { testid: "current-tenant-id" }, tenant),
      described?.displayName ? ` (${described.displayName})` : "",
      described?.issuer ? h("span", { class: "hint" }, " · issuer ", h("code", {}, described.issuer)) : "",
    );
  }

  const signOut = h("button", { type: "button", testid: "sign-out" }, "Sign out");
  signOut.onclick = () => {
    session.signOut();
    showSignIn("You signed out.");
  };
  const expiresAt = session.expiresAt;
  root.replaceChildren(
    h(
      "header",
      { class: "topbar" },
      h("h1", {}, "Tokensmith console"),
      picker?.element,
      h(
        "span",
        { class: "who", testid: "signed-in-as" },
        "Signed in as ",
        h("code", {}, session.clientId ?? ""),
        platform ? h("span", { class: "badge platform", testid: "platform-administrator", title: `The session holds ${TENANTS_SCOPE}` }, "platform administrator") : "",
        expiresAt ? ` · session until ${formatDate(new Date(expiresAt))}` : "",
      ),
      signOut,
    ),
    h("nav", { class: "tabs", role: "tablist" }, ...tabButtons),
    tenantBar,
    errorBanner,
    noticeBanner,
    panel,
  );
  select(currentTab);
  // The tenant bar gets the display name and issuer once the tenants are listed.
  void picker?.refresh().then(() => showTenant(currentTab === "tenants" ? undefined : picker.chosen));
}

const resumed = session.resume();
if (resumed === "resumed") showConsole();
else showSignIn(resumed === "expired" ? "Your session has expired: sign in again." : undefined);
document.body.dataset.ready = "true";
