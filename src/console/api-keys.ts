import { ApiKeyInfoSchema, type ApiKeyInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { GRANT_LIFETIME } from "../domain/api-key.js";
import { chips, field, h, showSecretOnce, time } from "./dom.js";
import { entityTab, sourceBadge } from "./entity-tab.js";
import { scopePickerFor } from "./scopes.js";
import { updateMaskOf } from "../rpc/admin-messages.js";
import type { AdminClient } from "./session.js";
import { lifetimeField, sameSet, type LifetimeLimits, type View, type ViewContext } from "./view.js";

/** API keys: list (paged), create, edit (scopes, grant lifetime), delete. Config-declared keys are read-only. */
export function apiKeysView(context: ViewContext): View {
  const { admin } = context;
  const limitsOf = (page: { defaultGrantLifetimeSeconds: bigint; maxGrantLifetimeSeconds: bigint }): LifetimeLimits => ({
    defaultSeconds: page.defaultGrantLifetimeSeconds,
    maxSeconds: page.maxGrantLifetimeSeconds,
  });
  /** The grant lifetimes, from the list's last page (ListApiKeys tells them), or asked for when no page has come yet. */
  let listed: LifetimeLimits | undefined;
  const lifetimes = (): Promise<LifetimeLimits> => (listed !== undefined ? Promise.resolve(listed) : admin.listApiKeys({ pageSize: 1 }).then(limitsOf));
  return entityTab(context, {
    testid: "api-key",
    noun: "API key",
    headings: ["Name", "Key", "Scopes", "Grant lifetime", "Source", "Created", ""],
    list: (page) =>
      admin.listApiKeys(page).then((response) => {
        listed = limitsOf(response);
        return { items: response.apiKeys, nextPageToken: response.nextPageToken };
      }),
    key: "name",
    cells: (key) => [
      h("td", {}, h("code", {}, key.name)),
      h("td", {}, key.keyPrefix ? h("code", { title: "The first characters of the key, to recognise it" }, key.keyPrefix) : h("span", { class: "muted" }, "—")),
      h("td", {}, chips(key.scopes, "none")),
      h("td", {}, `${key.grantLifetimeSeconds} s`),
      h("td", {}, sourceBadge(key.source)),
      h("td", {}, time(key.createTime)),
    ],
    remove: {
      message: (name) => `Callers using "${name}" can no longer get grants. Grants already issued run out within their lifetime. This cannot be undone.`,
      send: (name) => admin.deleteApiKey({ name }),
    },
    form: {
      hint: "The key is shown once, right after creation. Backends send it as Basic base64(key + \":\") to IssueGrant.",
      open: () => {
        const form = apiKeyForm(context, lifetimes());
        const name = h("input", { type: "text", testid: "api-key-name", required: true, autocomplete: "off", spellcheck: false, placeholder: "checkout-backend" });
        return {
          fields: [field("Name", name, "shown as the grants' client_id"), form.lifetime.element],
          below: [form.scopes.element],
          first: name,
          submit: () => {
            const request = { name: name.value.trim(), ...form.read() };
            return async () => {
              const created = await admin.createApiKey(request);
              const keyName = created.apiKey?.name ?? request.name;
              return { key: keyName, reveal: () => showSecretOnce({ title: "API key created", what: "API key", facts: [["Name", keyName]] }, created.key) };
            };
          },
        };
      },
    },
    edit: {
      hint: "The key stays the same; grants issued from now on follow the new settings (UpdateApiKey).",
      open: (key) => {
        const form = apiKeyForm(context, lifetimes(), key);
        return {
          fields: [form.lifetime.element],
          below: [form.scopes.element],
          first: form.lifetime.input,
          submit: () => {
            const fields = form.read();
            const changes = {
              ...(sameSet(fields.scopes, key.scopes) ? {} : { scopes: fields.scopes }),
              ...(fields.grantLifetimeSeconds !== key.grantLifetimeSeconds ? { grantLifetimeSeconds: fields.grantLifetimeSeconds } : {}),
            };
            if (Object.keys(changes).length === 0) throw new Error("Nothing was changed");
            return async () => {
              await admin.updateApiKey({ apiKey: { name: key.name, ...changes }, updateMask: updateMaskOf(ApiKeyInfoSchema, changes) });
              return `API key "${key.name}" was saved.`;
            };
          },
        };
      },
    },
  });
}

/** An API key's settings, filled in from `key` when it is given. */
function apiKeyForm(context: ViewContext, limits: Promise<LifetimeLimits>, key?: ApiKeyInfo) {
  const scopes = scopePickerFor(context, "api-key-scopes", "Scopes its grants may carry", key?.scopes);
  const lifetime = lifetimeField("Grant lifetime (seconds)", "api-key-lifetime", limits, GRANT_LIFETIME.maxSeconds, key?.grantLifetimeSeconds);
  return {
    scopes,
    lifetime,
    read() {
      const fields = { scopes: scopes.selected(), grantLifetimeSeconds: lifetime.seconds("The grant lifetime") };
      if (fields.scopes.length === 0) throw new Error("Pick at least one scope: an API key needs one");
      return fields;
    },
  };
}
