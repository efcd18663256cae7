import { Source, type ClientInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TOKEN_LIFETIME_LIMIT_SECONDS, usesSecret, type ClientAuthMethod } from "../domain/client.js";
import { chips, confirmAction, field, formatDate, h, showSecretOnce, time, words } from "./dom.js";
import { knownScopes, ScopePicker } from "./scopes.js";
import { describeError, errorText } from "./session.js";
import { busy, LIST_PAGE_SIZE, PagedTable, parseSeconds, type View, type ViewContext } from "./view.js";
import { timestampDate } from "@bufbuild/protobuf/wkt";

/** What the create form offers, as RFC 7591 method lists; private_key_jwt asks for keys. */
const AUTH_CHOICES: Array<[value: string, label: string, methods: ClientAuthMethod[]]> = [
  ["secret", "client secret (Basic header or POST body)", ["client_secret_basic", "client_secret_post"]],
  ["client_secret_basic", "client secret, Basic header only", ["client_secret_basic"]],
  ["client_secret_post", "client secret, POST body only", ["client_secret_post"]],
  ["private_key_jwt", "private_key_jwt (signed assertion; no secret)", ["private_key_jwt"]],
];

/** Clients: list (paged), create, rotate secret, delete. Config-declared clients are read-only. */
export function clientsView(context: ViewContext): View {
  const { admin } = context;
  const table: PagedTable<ClientInfo> = new PagedTable<ClientInfo>({
    testid: "clients",
    noun: "clients",
    headings: ["Client ID", "Scopes", "Audiences", "Token lifetime", "Source", "Created", ""],
    load: async (pageToken) => {
      const page = await admin.listClients({ pageSize: LIST_PAGE_SIZE, pageToken });
      return { items: page.clients, nextPageToken: page.nextPageToken };
    },
    row: (client) => clientRow(client),
    fail: context.fail,
  });

  function clientRow(client: ClientInfo): HTMLTableRowElement {
    const fromConfig = client.source === Source.CONFIG;
    const actions = h("td", { class: "actions" });
    if (fromConfig) {
      actions.append(h("span", { class: "muted", testid: "read-only", title: "Declared in the config file: change it there." }, "read-only"));
    } else {
      // A key-only client has no secret to rotate.
      if (usesSecret(client.tokenEndpointAuthMethods)) {
        const rotate = h("button", { type: "button", testid: "client-rotate" }, "Rotate secret");
        rotate.onclick = () => void rotateSecret(client.id, rotate);
        actions.append(rotate);
      }
      const remove = h("button", { type: "button", class: "danger", testid: "client-delete" }, "Delete");
      remove.onclick = () => void deleteClient(client.id, remove);
      actions.append(remove);
    }
    const previous = client.previousSecretExpireTime;
    return h(
      "tr",
      { testid: "client-row", data: { id: client.id, source: fromConfig ? "config" : "store" } },
      h(
        "td",
        {},
        h("code", {}, client.id),
        previous ? h("div", { class: "hint", testid: "previous-secret" }, `previous secret works until ${formatDate(timestampDate(previous))}`) : null,
        h("div", { class: "hint", testid: "client-auth-methods", title: "token_endpoint_auth_methods" }, client.tokenEndpointAuthMethods.join(", ")),
      ),
      h("td", {}, chips(client.scopes, "none")),
      h("td", {}, chips(client.audiences)),
      h("td", {}, client.tokenLifetimeSeconds > 0n ? `${client.tokenLifetimeSeconds} s` : h("span", { class: "muted" }, "default")),
      h("td", {}, sourceBadge(client.source)),
      h("td", {}, time(client.createTime)),
      actions,
    );
  }

  async function rotateSecret(id: string, button: HTMLButtonElement): Promise<void> {
    const confirmed = await confirmAction({
      title: "Rotate the client secret?",
      message: `A new secret for "${id}" is issued now. The current secret keeps working for the overlap window, then stops: deploy the new one before then.`,
      confirmLabel: "Rotate secret",
    });
    if (!confirmed) return;
    context.clearBanners();
    try {
      const rotated = await busy(button, () => admin.rotateClientSecret({ id }));
      const until = rotated.client?.previousSecretExpireTime;
      context.notice(`The secret of client "${id}" was rotated.`);
      void table.reload();
      await showSecretOnce(
        {
          title: "New client secret",
          what: "secret",
          facts: [
            ["Client ID", id],
            ...(until ? ([["Old secret works until", formatDate(timestampDate(until))]] as Array<[string, string]>) : []),
          ],
        },
        rotated.clientSecret,
      );
    } catch (error) {
      context.fail(`Rotating the secret of "${id}"`, error);
    }
  }

  async function deleteClient(id: string, button: HTMLButtonElement): Promise<void> {
    const confirmed = await confirmAction({
      title: "Delete the client?",
      message: `"${id}" can no longer get tokens, and the access tokens it holds stop introspecting active. This cannot be undone.`,
      confirmLabel: "Delete client",
      danger: true,
    });
    if (!confirmed) return;
    context.clearBanners();
    try {
      await busy(button, () => admin.deleteClient({ id }));
      context.notice(`Client "${id}" was deleted.`);
      await table.reload();
    } catch (error) {
      context.fail(`Deleting client "${id}"`, error);
    }
  }

  const formSlot = h("div", { testid: "client-form-slot" });
  const newButton = h("button", { type: "button", class: "primary", testid: "client-new" }, "New client");
  const refresh = h("button", { type: "button", testid: "clients-refresh" }, "Refresh");
  newButton.onclick = () => openForm();
  refresh.onclick = () => void busy(refresh, () => table.reload());

  function openForm(): void {
    context.clearBanners();
    const id = h("input", { type: "text", testid: "client-id", placeholder: "generated when empty", autocomplete: "off", spellcheck: false });
    const audiences = h("input", { type: "text", testid: "client-audiences", placeholder: "https://api.example.com", autocomplete: "off", spellcheck: false });
    const lifetime = h("input", { type: "number", testid: "client-lifetime", min: "1", max: String(TOKEN_LIFETIME_LIMIT_SECONDS), placeholder: "server default" });
    const scopes = new ScopePicker("client-scopes", "Scopes the client may request");
    const authMethod = h("select", { testid: "client-auth-method" }, ...AUTH_CHOICES.map(([value, label]) => h("option", { value }, label)));
    const keys = h("input", { type: "text", testid: "client-jwks", placeholder: "https://keys.example.com/jwks.json or {\"keys\": […]}", autocomplete: "off", spellcheck: false });
    const keysField = field("Public keys", keys, "a jwks_uri (https) or a JWK Set as JSON");
    keysField.hidden = true;
    authMethod.onchange = () => {
      keysField.hidden = authMethod.value !== "private_key_jwt";
    };
    const error = h("p", { class: "form-error", testid: "form-error", role: "alert", hidden: true });
    const create = h("button", { type: "submit", class: "primary", testid: "client-create" }, "Create client");
    const cancel = h("button", { type: "button", testid: "client-cancel" }, "Cancel");
    const form = h(
      "form",
      { class: "card", testid: "client-form" },
      h("h3", {}, "New client"),
      h("p", { class: "hint" }, "A client secret is shown once, right after creation."),
      h(
        "div",
        { class: "form-grid" },
        field("Client ID", id, "letters, digits, . _ - :"),
        field("Audiences", audiences, "space-separated; the tokens' aud"),
        field("Token lifetime (seconds)", lifetime),
        field("Authentication", authMethod, "token_endpoint_auth_methods; any other method is refused"),
        keysField,
      ),
      scopes.element,
      error,
      h("div", { class: "form-actions" }, create, cancel),
    );
    cancel.onclick = () => form.remove();
    form.onsubmit = (event) => {
      event.preventDefault();
      void (async () => {
        error.hidden = true;
        try {
          const request = {
            id: id.value.trim(),
            scopes: scopes.selected(),
            audiences: words(audiences.value),
            tokenLifetimeSeconds: parseSeconds(lifetime.value, "The token lifetime", TOKEN_LIFETIME_LIMIT_SECONDS),
            tokenEndpointAuthMethods: AUTH_CHOICES.find(([value]) => value === authMethod.value)?.[2] ?? [],
            ...keyFields(authMethod.value === "private_key_jwt" ? keys.value.trim() : ""),
          };
          const created = await busy(create, () => admin.createClient(request));
          const clientId = created.client?.id ?? request.id;
          form.remove();
          context.notice(`Client "${clientId}" was created.`);
          void table.reload();
          if (created.clientSecret === "") context.notice(`Client "${clientId}" was created; it authenticates with private_key_jwt and has no secret.`);
          else await showSecretOnce({ title: "Client created", what: "secret", facts: [["Client ID", clientId]] }, created.clientSecret);
        } catch (failure) {
          error.textContent = errorText(failure);
          error.hidden = false;
        }
      })();
    };
    formSlot.replaceChildren(form);
    id.focus();
    knownScopes(admin).then(
      (known) => scopes.setKnown(known),
      (failure: unknown) => scopes.setFailed(describeError(failure).text),
    );
  }

  void table.reload();
  return {
    element: h("section", { testid: "clients-view" }, h("div", { class: "toolbar" }, h("h2", {}, "Clients"), refresh, newButton), formSlot, table.element),
  };
}

/** A JWK Set pasted as JSON, or a jwks_uri. */
function keyFields(text: string): { jwksJson?: string; jwksUri?: string } {
  if (text === "") return {};
  return text.startsWith("{") ? { jwksJson: text } : { jwksUri: text };
}

export function sourceBadge(source: Source): HTMLElement {
  if (source === Source.CONFIG) return h("span", { class: "badge config", title: "Declared in the config file: read-only here" }, "config");
  return h("span", { class: "badge store", title: "Created through the AdminService" }, "store");
}
