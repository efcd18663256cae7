import type { ClientInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { DEFAULT_GRANT_TYPES, GRANT_TYPES, TOKEN_EXCHANGE_GRANT, TOKEN_LIFETIME_LIMIT_SECONDS, usesSecret, type ClientAuthMethod, type GrantType } from "../domain/client.js";
import { chips, field, formatDate, h, showSecretOnce, time, words } from "./dom.js";
import { entityTab, sourceBadge } from "./entity-tab.js";
import { scopePickerFor } from "./scopes.js";
import { afterConfirming, busy, parseSeconds, type View, type ViewContext } from "./view.js";
import { timestampDate } from "@bufbuild/protobuf/wkt";

/** What the create form offers, as RFC 7591 method lists; private_key_jwt asks for keys. */
const AUTH_CHOICES: Array<[value: string, label: string, methods: ClientAuthMethod[]]> = [
  ["secret", "client secret (Basic header or POST body)", ["client_secret_basic", "client_secret_post"]],
  ["client_secret_basic", "client secret, Basic header only", ["client_secret_basic"]],
  ["client_secret_post", "client secret, POST body only", ["client_secret_post"]],
  ["private_key_jwt", "private_key_jwt (signed assertion; no secret)", ["private_key_jwt"]],
  ["federated_jwt", "federated_jwt (platform token of a trusted issuer; no secret)", ["federated_jwt"]],
];

/** What each grant type is for, next to its RFC 7591 name. */
const GRANT_LABELS: Record<GrantType, string> = {
  client_credentials: "tokens for the client itself",
  [TOKEN_EXCHANGE_GRANT]: "token exchange (RFC 8693): trade a caller's token for one acting for it",
};

/** Checkboxes for the grant types, the default ones ticked; `selected()` refuses none. */
function grantTypePicker(): { element: HTMLElement; selected(): string[] } {
  const boxes = GRANT_TYPES.map((grantType) => {
    const box = h("input", { type: "checkbox", value: grantType, checked: DEFAULT_GRANT_TYPES.includes(grantType) });
    const label = h(
      "label",
      { class: "scope-option", testid: "client-grant-type", data: { grantType }, title: GRANT_LABELS[grantType] },
      box,
      h("span", { class: "mono" }, grantType),
    );
    return { box, label };
  });
  return {
    element: h(
      "fieldset",
      { testid: "client-grant-types-field" },
      h("legend", {}, "Grant types", h("span", { class: "hint" }, " — grant_types: what the client may ask the token endpoint for")),
      h("div", { class: "scope-options" }, ...boxes.map(({ label }) => label)),
    ),
    selected() {
      const selected = boxes.filter(({ box }) => box.checked).map(({ box }) => box.value);
      if (selected.length === 0) throw new Error("Pick at least one grant type");
      return selected;
    },
  };
}

/**
 * Clients: list (paged), create, rotate secret, revoke all tokens, delete.
 * Config-declared clients are read-only, but their tokens can be revoked:
 * that changes none of their settings, and a leak does not wait for a redeploy.
 */
export function clientsView(context: ViewContext): View {
  const { admin } = context;

  function rotateSecret(id: string, button: HTMLButtonElement, reload: () => Promise<void>): Promise<void> {
    return afterConfirming(
      context,
      {
        title: "Rotate the client secret?",
        message: `A new secret for "${id}" is issued now. The current secret keeps working for the overlap window, then stops: deploy the new one before then.`,
        confirmLabel: "Rotate secret",
      },
      `Rotating the secret of "${id}"`,
      async () => {
        const rotated = await busy(button, () => admin.rotateClientSecret({ id }));
        const until = rotated.client?.previousSecretExpireTime;
        context.notice(`The secret of client "${id}" was rotated.`);
        void reload();
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
      },
    );
  }

  function revokeTokens(id: string, button: HTMLButtonElement): Promise<void> {
    return afterConfirming(
      context,
      {
        title: "Revoke all tokens of the client?",
        message: `Every access token "${id}" was issued up to now stops being active, on every instance. The client stays and can get new tokens: rotate its secret too if that leaked. This cannot be undone.`,
        confirmLabel: "Revoke all tokens",
        danger: true,
      },
      `Revoking the tokens of "${id}"`,
      async () => {
        const revoked = await busy(button, () => admin.revokeClientTokens({ id }));
        const cutoff = revoked.revokeTime ? formatDate(timestampDate(revoked.revokeTime)) : "now";
        context.notice(`Every token client "${id}" was issued up to ${cutoff} is now inactive.`);
      },
    );
  }

  return entityTab(context, {
    testid: "client",
    noun: "client",
    headings: ["Client ID", "Scopes", "Audiences", "Token lifetime", "Source", "Created", ""],
    list: (page) => admin.listClients(page).then((response) => ({ items: response.clients, nextPageToken: response.nextPageToken })),
    key: "id",
    cells: (client) => {
      const previous = client.previousSecretExpireTime;
      return [
        h(
          "td",
          {},
          h("code", {}, client.id),
          previous ? h("div", { class: "hint", testid: "previous-secret" }, `previous secret works until ${formatDate(timestampDate(previous))}`) : null,
          h("div", { class: "hint", testid: "client-auth-methods", title: "token_endpoint_auth_methods" }, client.tokenEndpointAuthMethods.join(", ")),
          h("div", { class: "hint", testid: "client-grant-types", title: "grant_types" }, client.grantTypes.join(", ")),
        ),
        h("td", {}, chips(client.scopes, "none")),
        h("td", {}, chips(client.audiences)),
        h("td", {}, client.tokenLifetimeSeconds > 0n ? `${client.tokenLifetimeSeconds} s` : h("span", { class: "muted" }, "default")),
        h("td", {}, sourceBadge(client.source)),
        h("td", {}, time(client.createTime)),
      ];
    },
    actions: (client, reload) => {
      // A key-only client has no secret to rotate.
      if (!usesSecret(client.tokenEndpointAuthMethods)) return [];
      const rotate = h("button", { type: "button", testid: "client-rotate" }, "Rotate secret");
      rotate.onclick = () => void rotateSecret(client.id, rotate, reload);
      return [rotate];
    },
    everyRowActions: (client) => {
      const revoke = h("button", { type: "button", class: "danger", testid: "client-revoke-tokens" }, "Revoke all tokens");
      revoke.onclick = () => void revokeTokens(client.id, revoke);
      return [revoke];
    },
    remove: {
      message: (id) => `"${id}" can no longer get tokens, and the access tokens it holds stop introspecting active. This cannot be undone.`,
      send: (id) => admin.deleteClient({ id }),
    },
    form: {
      hint: "A client secret is shown once, right after creation.",
      open: () => {
        const scopes = scopePickerFor(admin, "client-scopes", "Scopes the client may request");
        const grantTypes = grantTypePicker();
        const id = h("input", { type: "text", testid: "client-id", placeholder: "generated when empty", autocomplete: "off", spellcheck: false });
        const audiences = h("input", { type: "text", testid: "client-audiences", placeholder: "https://api.example.com", autocomplete: "off", spellcheck: false });
        const lifetime = h("input", { type: "number", testid: "client-lifetime", min: "1", max: String(TOKEN_LIFETIME_LIMIT_SECONDS), placeholder: "server default" });
        const authMethod = h("select", { testid: "client-auth-method" }, ...AUTH_CHOICES.map(([value, label]) => h("option", { value }, label)));
        const keys = h("input", { type: "text", testid: "client-jwks", placeholder: "https://keys.example.com/jwks.json or {\"keys\": […]}", autocomplete: "off", spellcheck: false });
        const keysField = field("Public keys", keys, "a jwks_uri (https) or a JWK Set as JSON");
        keysField.hidden = true;
        authMethod.onchange = () => {
          keysField.hidden = authMethod.value !== "private_key_jwt";
        };
        return {
          fields: [
            field("Client ID", id, "letters, digits, . _ - :"),
            field("Audiences", audiences, "space-separated; the tokens' aud"),
            field("Token lifetime (seconds)", lifetime),
            field("Authentication", authMethod, "token_endpoint_auth_methods; any other method is refused"),
            keysField,
          ],
          below: [grantTypes.element, scopes.element],
          first: id,
          submit: () => {
            const request = {
              id: id.value.trim(),
              scopes: scopes.selected(),
              audiences: words(audiences.value),
              tokenLifetimeSeconds: parseSeconds(lifetime.value, "The token lifetime", TOKEN_LIFETIME_LIMIT_SECONDS),
              tokenEndpointAuthMethods: AUTH_CHOICES.find(([value]) => value === authMethod.value)?.[2] ?? [],
              grantTypes: grantTypes.selected(),
              ...keyFields(authMethod.value === "private_key_jwt" ? keys.value.trim() : ""),
            };
            return async () => {
              const created = await admin.createClient(request);
              const clientId = created.client?.id ?? request.id;
              const reveal = async (): Promise<void> => {
                if (created.clientSecret === "") context.notice(`Client "${clientId}" was created; it authenticates with ${request.tokenEndpointAuthMethods.join(", ")} and has no secret.`);
                else await showSecretOnce({ title: "Client created", what: "secret", facts: [["Client ID", clientId]] }, created.clientSecret);
              };
              return { key: clientId, reveal };
            };
          },
        };
      },
    },
  });
}

/** A JWK Set pasted as JSON, or a jwks_uri. */
function keyFields(text: string): { jwksJson?: string; jwksUri?: string } {
  if (text === "") return {};
  return text.startsWith("{") ? { jwksJson: text } : { jwksUri: text };
}
