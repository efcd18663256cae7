import type { ApiKeyInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { GRANT_LIFETIME } from "../domain/api-key.js";
import { chips, field, h, showSecretOnce, time } from "./dom.js";
import { entityTab, sourceBadge } from "./entity-tab.js";
import { scopePickerFor } from "./scopes.js";
import { parseSeconds, type View, type ViewContext } from "./view.js";

/** API keys: list (paged), create, delete. Config-declared keys are read-only. */
export function apiKeysView(context: ViewContext): View {
  const { admin } = context;
  return entityTab(context, {
    testid: "api-key",
    noun: "API key",
    headings: ["Name", "Key", "Scopes", "Grant lifetime", "Source", "Created", ""],
    list: (page) => admin.listApiKeys(page).then((response) => ({ items: response.apiKeys, nextPageToken: response.nextPageToken })),
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
        const scopes = scopePickerFor(admin, "api-key-scopes", "Scopes its grants may carry");
        const name = h("input", { type: "text", testid: "api-key-name", required: true, autocomplete: "off", spellcheck: false, placeholder: "checkout-backend" });
        const lifetime = h("input", { type: "number", testid: "api-key-lifetime", min: "1", max: String(GRANT_LIFETIME.maxSeconds), placeholder: String(GRANT_LIFETIME.defaultSeconds) });
        return {
          fields: [
            field("Name", name, "shown as the grants' client_id"),
            field("Grant lifetime (seconds)", lifetime, `default ${GRANT_LIFETIME.defaultSeconds}, at most ${GRANT_LIFETIME.maxSeconds}`),
          ],
          below: [scopes.element],
          first: name,
          submit: () => {
            const request = {
              name: name.value.trim(),
              scopes: scopes.selected(),
              grantLifetimeSeconds: parseSeconds(lifetime.value, "The grant lifetime", GRANT_LIFETIME.maxSeconds),
            };
            if (request.scopes.length === 0) throw new Error("Pick at least one scope: an API key needs one");
            return async () => {
              const created = await admin.createApiKey(request);
              const keyName = created.apiKey?.name ?? request.name;
              return { key: keyName, reveal: () => showSecretOnce({ title: "API key created", what: "API key", facts: [["Name", keyName]] }, created.key) };
            };
          },
        };
      },
    },
  });
}
