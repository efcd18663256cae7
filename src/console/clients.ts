import { ClientInfoSchema, type ClientInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { DEFAULT_GRANT_TYPES, GRANT_TYPES, TOKEN_EXCHANGE_GRANT, TOKEN_LIFETIME_LIMIT_SECONDS, usesSecret, type ClientAuthMethod, type GrantType } from "../domain/client.js";
import { chips, field, formatDate, h, showSecretOnce, time, words } from "./dom.js";
import { entityTab, sourceBadge } from "./entity-tab.js";
import { updateMaskOf } from "../rpc/admin-messages.js";
import { publicKeysFrom } from "./jwks.js";
import { scopePickerFor } from "./scopes.js";
import type { AdminClient } from "./session.js";
import { afterConfirming, busy, lifetimeField, sameSet, type LifetimeLimits, type View, type ViewContext } from "./view.js";
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

/** Checkboxes for the grant types, `registered` (or the default ones) ticked; `selected()` refuses none. */
function grantTypePicker(registered: readonly string[] = DEFAULT_GRANT_TYPES): { element: HTMLElement; selected(): string[] } {
  const boxes = GRANT_TYPES.map((grantType) => {
    const box = h("input", { type: "checkbox", value: grantType, checked: registered.includes(grantType) });
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
  /** The tenant's lifetimes, from the list's last page (ListClients tells them), or asked for when no page has come yet. */
  let listed: LifetimeLimits | undefined;
  const lifetimes = () => (listed !== undefined ? Promise.resolve(listed) : tokenLifetimes(admin));

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
    list: (page) =>
      admin.listClients(page).then((response) => {
        listed = limitsOf(response);
        return { items: response.clients, nextPageToken: response.nextPageToken };
      }),
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
      hint: "A client secret is shown once, right after creation; a private_key_jwt or federated_jwt client has none.",
      open: () => {
        const form = clientForm(context, lifetimes());
        const id = h("input", { type: "text", testid: "client-id", placeholder: "generated when empty", autocomplete: "off", spellcheck: false });
        return {
          fields: [field("Client ID", id, "letters, digits, . _ - :"), ...form.fields],
          below: form.below,
          first: id,
          submit: () => {
            const request = { id: id.value.trim(), ...form.read() };
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
    edit: {
      hint: "Only the fields changed are sent (UpdateClient). Leaving every secret method deletes the client's secrets; adding one: Rotate secret issues it.",
      open: (client) => {
        const form = clientForm(context, lifetimes(), client);
        return {
          fields: form.fields,
          below: form.below,
          first: form.fields[0]!.querySelector("input,select,textarea") ?? form.fields[0]!,
          submit: () => {
            const changes = changedFields(client, form.read());
            if (Object.keys(changes).length === 0) throw new Error("Nothing was changed");
            return async () => {
              const { client: updated } = await admin.updateClient({ client: { id: client.id, ...changes }, updateMask: updateMaskOf(ClientInfoSchema, changes) });
              const methods = updated?.tokenEndpointAuthMethods ?? [];
              const needsSecret = usesSecret(methods) && !usesSecret(client.tokenEndpointAuthMethods);
              return `Client "${client.id}" was saved.${needsSecret ? " It has no secret yet: Rotate secret issues one." : ""}`;
            };
          },
        };
      },
    },
  });
}

type ClientFields = ReturnType<ReturnType<typeof clientForm>["read"]>;

/** The lifetimes of the tenant's tokens, as ListClients tells them. */
function tokenLifetimes(admin: AdminClient): Promise<LifetimeLimits> {
  return admin.listClients({ pageSize: 1 }).then(limitsOf);
}

function limitsOf(page: { defaultTokenLifetimeSeconds: bigint; maxTokenLifetimeSeconds: bigint }): LifetimeLimits {
  return { defaultSeconds: page.defaultTokenLifetimeSeconds, maxSeconds: page.maxTokenLifetimeSeconds };
}

/** The settings a client is created with, or edited: filled in from `client` when it is given. */
function clientForm(context: ViewContext, limits: Promise<LifetimeLimits>, client?: ClientInfo) {
  const scopes = scopePickerFor(context, "client-scopes", "Scopes the client may request", client?.scopes);
  const grantTypes = grantTypePicker(client?.grantTypes);
  const audiences = h("input", { type: "text", testid: "client-audiences", placeholder: "https://api.example.com", autocomplete: "off", spellcheck: false, value: client?.audiences.join(" ") ?? "" });
  const lifetime = lifetimeField("Token lifetime (seconds)", "client-lifetime", limits, TOKEN_LIFETIME_LIMIT_SECONDS, client?.tokenLifetimeSeconds);
  const choices = [...AUTH_CHOICES];
  const current = client?.tokenEndpointAuthMethods ?? [];
  let chosen = client === undefined ? AUTH_CHOICES[0]![0] : AUTH_CHOICES.find(([, , methods]) => sameSet(methods, current))?.[0];
  if (chosen === undefined) {
    chosen = "current";
    choices.push(["current", `as registered: ${current.join(", ")}`, current as ClientAuthMethod[]]);
  }
  const authMethod = h("select", { testid: "client-auth-method" }, ...choices.map(([value, label]) => h("option", { value, selected: value === chosen }, label)));
  const keys = h("textarea", {
    testid: "client-jwks",
    rows: 3,
    placeholder: 'https://keys.example.com/jwks.json or {"keys": [ …public JWKs… ]}',
    autocomplete: "off",
    spellcheck: false,
    value: client?.jwksJson || client?.jwksUri || "",
  });
  const keysField = field("Public keys", keys, "a JWK Set as JSON (public keys only) or a jwks_uri (https)");
  const methodsOf = () => choices.find(([value]) => value === authMethod.value)?.[2] ?? [];
  const showKeys = () => (keysField.hidden = !methodsOf().includes("private_key_jwt"));
  authMethod.onchange = showKeys;
  showKeys();
  return {
    fields: [field("Audiences", audiences, "space-separated; the tokens' aud"), lifetime.element, field("Authentication", authMethod, "token_endpoint_auth_methods; any other method is refused"), keysField],
    below: [grantTypes.element, scopes.element],
    /** Reads the form; throws (with a sentence to show) on what the server would refuse. */
    read() {
      const methods = methodsOf();
      return {
        scopes: scopes.selected(),
        audiences: words(audiences.value),
        tokenLifetimeSeconds: lifetime.seconds("The token lifetime"),
        tokenEndpointAuthMethods: methods,
        grantTypes: grantTypes.selected(),
        ...(methods.includes("private_key_jwt") ? publicKeysFrom(keys.value, "private_key_jwt needs the client's public keys") : {}),
      };
    },
  };
}

/** What an edit changes: the fields whose value differs from the client's (keys: both fields, so one replaces the other). */
function changedFields(client: ClientInfo, fields: ClientFields): Partial<ClientFields> & { jwksJson?: string; jwksUri?: string } {
  const changes: Partial<ClientFields> & { jwksJson?: string; jwksUri?: string } = {};
  if (!sameSet(fields.scopes, client.scopes)) changes.scopes = fields.scopes;
  if (!sameSet(fields.audiences, client.audiences)) changes.audiences = fields.audiences;
  if (fields.tokenLifetimeSeconds !== client.tokenLifetimeSeconds) changes.tokenLifetimeSeconds = fields.tokenLifetimeSeconds;
  if (!sameSet(fields.tokenEndpointAuthMethods, client.tokenEndpointAuthMethods)) changes.tokenEndpointAuthMethods = fields.tokenEndpointAuthMethods;
  if (!sameSet(fields.grantTypes, client.grantTypes)) changes.grantTypes = fields.grantTypes;
  const jwksJson = "jwksJson" in fields ? fields.jwksJson : undefined;
  const jwksUri = "jwksUri" in fields ? fields.jwksUri : undefined;
  if ((jwksJson !== undefined && jwksJson !== client.jwksJson) || (jwksUri !== undefined && jwksUri !== client.jwksUri)) {
    changes.jwksJson = jwksJson ?? "";
    changes.jwksUri = jwksUri ?? "";
  }
  return changes;
}

