import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { AccessTokenInfo, ClientInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { allPages } from "../client/all-pages.js";
import { TOKEN_LIFETIME_LIMIT_SECONDS } from "../domain/client.js";
import { chips, field, formatDate, h, showSecretOnce, time } from "./dom.js";
import { errorText } from "./session.js";
import { afterConfirming, busy, LIST_PAGE_SIZE, PagedTable, parseSeconds, type View, type ViewContext } from "./view.js";

/** Clients offered in the form: at most this many pages of 500. */
const MAX_CLIENT_PAGES = 20;

/**
 * Named access tokens, as Beyond Identity's console offers them: pick a
 * client, a name, some of its scopes and a lifetime; the token is shown
 * once; the live ones are listed by name and revoked after a confirmation.
 */
export function accessTokensView(context: ViewContext): View {
  const { admin } = context;
  const table: PagedTable<AccessTokenInfo> = new PagedTable<AccessTokenInfo>({
    testid: "access-tokens",
    noun: "access tokens",
    headings: ["Name", "Client", "Scopes", "Expires", "Created", "Created by", ""],
    load: (pageToken) =>
      admin.listAccessTokens({ pageSize: LIST_PAGE_SIZE, pageToken }).then((response) => ({ items: response.accessTokens, nextPageToken: response.nextPageToken })),
    row: (info) => {
      const revoke = h("button", { type: "button", class: "danger", testid: "access-token-revoke" }, "Revoke");
      revoke.onclick = () => void revokeToken(info, revoke);
      return h(
        "tr",
        { testid: "access-token-row", data: { name: info.name, clientId: info.clientId, id: info.id } },
        h("td", {}, info.name, h("div", { class: "hint mono", title: "The token's jti" }, info.id)),
        h("td", {}, h("code", {}, info.clientId)),
        h("td", {}, chips(info.scopes, "none")),
        h("td", {}, time(info.expireTime)),
        h("td", {}, time(info.createTime)),
        h("td", {}, h("code", {}, info.createdBy)),
        h("td", { class: "actions" }, revoke),
      );
    },
    fail: context.fail,
  });

  function revokeToken(info: AccessTokenInfo, button: HTMLButtonElement): Promise<void> {
    const what = `Access token "${info.name}" of client "${info.clientId}"`;
    return afterConfirming(
      context,
      {
        title: "Revoke the access token?",
        message: `${what} stops being active at once, on every instance and every verifier; the client's other tokens keep working. This cannot be undone.`,
        confirmLabel: "Revoke token",
        danger: true,
      },
      `Revoking access token "${info.name}"`,
      async () => {
        await busy(button, () => admin.revokeAccessToken({ id: info.id }));
        context.notice(`${what} was revoked.`);
        await table.reload();
      },
    );
  }

  const formSlot = h("div", { testid: "access-token-form-slot" });
  const newButton = h("button", { type: "button", class: "primary", testid: "access-token-new" }, "New access token");
  const refresh = h("button", { type: "button", testid: "access-tokens-refresh" }, "Refresh");
  newButton.onclick = () => formSlot.replaceChildren(createForm(context, table, () => formSlot.replaceChildren()));
  refresh.onclick = () => void busy(refresh, () => table.reload());

  void table.reload();
  return {
    element: h(
      "section",
      { testid: "access-tokens-view" },
      h("div", { class: "toolbar" }, h("h2", {}, "Access tokens"), refresh, newButton),
      formSlot,
      table.element,
    ),
  };
}

/** Every client of the tenant (up to MAX_CLIENT_PAGES pages), for a form's picker. */
export function allClients(admin: ViewContext["admin"]): Promise<ClientInfo[]> {
  return allPages((pageToken) => admin.listClients({ pageSize: 500, pageToken }).then((response) => ({ items: response.clients, nextPageToken: response.nextPageToken })), MAX_CLIENT_PAGES);
}

/** The create form: the client first, then the scopes it holds (all ticked), a name and a lifetime. */
function createForm(context: ViewContext, table: PagedTable<AccessTokenInfo>, close: () => void): HTMLFormElement {
  const { admin } = context;
  context.clearBanners();
  const client = h("select", { testid: "access-token-client", required: true }, h("option", { value: "" }, "Loading the clients…"));
  const name = h("input", { type: "text", testid: "access-token-name", required: true, maxLength: 100, autocomplete: "off", placeholder: "nightly export" });
  const lifetime = h("input", { type: "number", testid: "access-token-lifetime", min: "1", max: String(TOKEN_LIFETIME_LIMIT_SECONDS), placeholder: "the client's" });
  const lifetimeHint = h("span", { class: "hint", testid: "access-token-lifetime-hint" });
  const scopes = h("div", { class: "scope-options", testid: "access-token-scopes" }, h("span", { class: "muted" }, "Pick a client first."));
  const error = h("p", { class: "form-error", testid: "form-error", role: "alert", hidden: true });
  const create = h("button", { type: "submit", class: "primary", testid: "access-token-create" }, "Create access token");
  const cancel = h("button", { type: "button", testid: "access-token-cancel" }, "Cancel");
  let clients: ClientInfo[] = [];

  const showError = (text: string) => {
    error.textContent = text;
    error.hidden = false;
  };
  allClients(admin).then(
    (listed) => {
      clients = listed;
      client.replaceChildren(h("option", { value: "" }, "Pick a client"), ...listed.map((info) => h("option", { value: info.id }, info.id)));
    },
    (failure: unknown) => showError(`The clients could not be listed: ${errorText(failure)}`),
  );
  client.onchange = () => {
    const picked = clients.find((info) => info.id === client.value);
    lifetimeHint.textContent = picked ? ` — default: the client's, ${picked.tokenLifetimeSeconds} s` : "";
    scopes.replaceChildren(
      ...(picked?.scopes ?? []).map((scope) =>
        h("label", { class: "scope-option", testid: "access-token-scope", data: { scope } }, h("input", { type: "checkbox", value: scope, checked: true }), h("span", { class: "mono" }, scope)),
      ),
    );
    if (picked !== undefined && picked.scopes.length === 0) scopes.append(h("span", { class: "muted" }, "The client holds no scope: the token will carry none."));
  };

  const form = h(
    "form",
    { class: "card", testid: "access-token-form" },
    h("h3", {}, "New access token"),
    h("p", { class: "hint" }, "An ordinary access token of the client, for a script or a partner: it is shown once, right after creation, and works until it expires or is revoked here."),
    h(
      "div",
      { class: "form-grid" },
      field("Client", client, "whose token it is (sub and client_id)"),
      field("Name", name, "1-100 characters, unique among the client's tokens"),
      h("label", {}, "Lifetime (seconds)", lifetimeHint, lifetime),
    ),
    h("fieldset", {}, h("legend", {}, "Scopes", h("span", { class: "hint" }, " — some of the client's")), scopes),
    error,
    h("div", { class: "form-actions" }, create, cancel),
  );
  cancel.onclick = close;
  form.onsubmit = (event) => {
    event.preventDefault();
    void (async () => {
      error.hidden = true;
      try {
        const picked = clients.find((info) => info.id === client.value);
        if (picked === undefined) throw new Error("Pick a client");
        const chosen = Array.from(scopes.querySelectorAll<HTMLInputElement>("input[type=checkbox]:checked")).map((box) => box.value);
        // None sent means all of the client's to the server: a client that holds some needs one picked.
        if (picked.scopes.length > 0 && chosen.length === 0) throw new Error("Pick at least one scope");
        const request = { clientId: picked.id, name: name.value, scopes: chosen, lifetimeSeconds: parseSeconds(lifetime.value, "The lifetime", TOKEN_LIFETIME_LIMIT_SECONDS) };
        const created = await busy(create, () => admin.createAccessToken(request));
        close();
        const info = created.accessToken!;
        context.notice(`Access token "${info.name}" of client "${info.clientId}" was created.`);
        void table.reload();
        await showSecretOnce(
          {
            title: "Access token created",
            what: "access token",
            facts: [
              ["Name", info.name],
              ["Client", info.clientId],
              ["Expires", info.expireTime ? formatDate(timestampDate(info.expireTime)) : "—"],
            ],
            note: " Tokensmith keeps only its record, never the token: a lost token cannot be shown again, only revoked and replaced.",
          },
          created.token,
        );
      } catch (failure) {
        showError(errorText(failure));
      }
    })();
  };
  queueMicrotask(() => client.focus());
  return form;
}
