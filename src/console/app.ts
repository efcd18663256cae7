/**
 * The Tokensmith web console (served at /console from static/console/app.js,
 * the bundle `npm run build:console` makes). Plain DOM code on Connect-Web: it calls the
 * TokenService to sign in and the AdminService for everything else, on the
 * origin that served it. No framework, no storage: the session token is kept
 * in memory only.
 */
import { ADMIN_SCOPE } from "../domain/scopes.js";
import { apiKeysView } from "./api-keys.js";
import { clientsView } from "./clients.js";
import { formatDate, h } from "./dom.js";
import { describeError, Session } from "./session.js";
import { signingKeysView } from "./signing-keys.js";
import type { View, ViewContext } from "./view.js";

type Tab = "clients" | "api-keys" | "signing-keys";
const TABS: Array<{ tab: Tab; label: string; view: (context: ViewContext) => View }> = [
  { tab: "clients", label: "Clients", view: clientsView },
  { tab: "api-keys", label: "API keys", view: apiKeysView },
  { tab: "signing-keys", label: "Signing keys", view: signingKeysView },
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
    h("p", { class: "hint" }, "Sign in with the id and secret of a client that holds the scope ", h("code", {}, ADMIN_SCOPE), "."),
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
  const context: ViewContext = {
    admin: session.admin,
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

  const tabButtons = TABS.map(({ tab, label }) => {
    const button = h("button", { type: "button", role: "tab", testid: `tab-${tab}` }, label);
    button.onclick = () => select(tab);
    return button;
  });
  function select(tab: Tab): void {
    currentTab = tab;
    context.clearBanners();
    TABS.forEach((entry, index) => tabButtons[index]!.setAttribute("aria-selected", String(entry.tab === tab)));
    panel.replaceChildren(TABS.find((entry) => entry.tab === tab)!.view(context).element);
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
      h(
        "span",
        { class: "who", testid: "signed-in-as" },
        "Signed in as ",
        h("code", {}, session.clientId ?? ""),
        expiresAt ? ` · session until ${formatDate(new Date(expiresAt))}` : "",
      ),
      signOut,
    ),
    h("nav", { class: "tabs", role: "tablist" }, ...tabButtons),
    errorBanner,
    noticeBanner,
    panel,
  );
  document.title = "Tokensmith console";
  select(currentTab);
}

showSignIn();
document.body.dataset.ready = "true";
