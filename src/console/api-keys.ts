import { Source, type ApiKeyInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { GRANT_LIFETIME } from "../domain/api-key.js";
import { sourceBadge } from "./clients.js";
import { chips, confirmAction, field, h, showSecretOnce, time } from "./dom.js";
import { knownScopes, ScopePicker } from "./scopes.js";
import { describeError, errorText } from "./session.js";
import { busy, LIST_PAGE_SIZE, PagedTable, parseSeconds, type View, type ViewContext } from "./view.js";

/** API keys: list (paged), create, delete. Config-declared keys are read-only. */
export function apiKeysView(context: ViewContext): View {
  const { admin } = context;
  const table: PagedTable<ApiKeyInfo> = new PagedTable<ApiKeyInfo>({
    testid: "api-keys",
    noun: "API keys",
    headings: ["Name", "Key", "Scopes", "Grant lifetime", "Source", "Created", ""],
    load: async (pageToken) => {
      const page = await admin.listApiKeys({ pageSize: LIST_PAGE_SIZE, pageToken });
      return { items: page.apiKeys, nextPageToken: page.nextPageToken };
    },
    row: (key) => keyRow(key),
    fail: context.fail,
  });

  function keyRow(key: ApiKeyInfo): HTMLTableRowElement {
    const fromConfig = key.source === Source.CONFIG;
    const actions = h("td", { class: "actions" });
    if (fromConfig) {
      actions.append(h("span", { class: "muted", testid: "read-only", title: "Declared in the config file: change it there." }, "read-only"));
    } else {
      const remove = h("button", { type: "button", class: "danger", testid: "api-key-delete" }, "Delete");
      remove.onclick = () => void deleteKey(key.name, remove);
      actions.append(remove);
    }
    return h(
      "tr",
      { testid: "api-key-row", data: { name: key.name, source: fromConfig ? "config" : "store" } },
      h("td", {}, h("code", {}, key.name)),
      h("td", {}, key.keyPrefix ? h("code", { title: "The first characters of the key, to recognise it" }, key.keyPrefix) : h("span", { class: "muted" }, "—")),
      h("td", {}, chips(key.scopes, "none")),
      h("td", {}, `${key.grantLifetimeSeconds} s`),
      h("td", {}, sourceBadge(key.source)),
      h("td", {}, time(key.createTime)),
      actions,
    );
  }

  async function deleteKey(name: string, button: HTMLButtonElement): Promise<void> {
    const confirmed = await confirmAction({
      title: "Delete the API key?",
      message: `Callers using "${name}" can no longer get grants. Grants already issued run out within their lifetime. This cannot be undone.`,
      confirmLabel: "Delete API key",
      danger: true,
    });
    if (!confirmed) return;
    context.clearBanners();
    try {
      await busy(button, () => admin.deleteApiKey({ name }));
      context.notice(`API key "${name}" was deleted.`);
      await table.reload();
    } catch (error) {
      context.fail(`Deleting API key "${name}"`, error);
    }
  }

  const formSlot = h("div", { testid: "api-key-form-slot" });
  const newButton = h("button", { type: "button", class: "primary", testid: "api-key-new" }, "New API key");
  const refresh = h("button", { type: "button", testid: "api-keys-refresh" }, "Refresh");
  newButton.onclick = () => openForm();
  refresh.onclick = () => void busy(refresh, () => table.reload());

  function openForm(): void {
    context.clearBanners();
    const name = h("input", { type: "text", testid: "api-key-name", required: true, autocomplete: "off", spellcheck: false, placeholder: "checkout-backend" });
    const lifetime = h("input", { type: "number", testid: "api-key-lifetime", min: "1", max: String(GRANT_LIFETIME.maxSeconds), placeholder: String(GRANT_LIFETIME.defaultSeconds) });
    const scopes = new ScopePicker("api-key-scopes", "Scopes its grants may carry");
    const error = h("p", { class: "form-error", testid: "form-error", role: "alert", hidden: true });
    const create = h("button", { type: "submit", class: "primary", testid: "api-key-create" }, "Create API key");
    const cancel = h("button", { type: "button", testid: "api-key-cancel" }, "Cancel");
    const form = h(
      "form",
      { class: "card", testid: "api-key-form" },
      h("h3", {}, "New API key"),
      h("p", { class: "hint" }, "The key is shown once, right after creation. Backends send it as Basic base64(key + \":\") to IssueGrant."),
      h(
        "div",
        { class: "form-grid" },
        field("Name", name, "shown as the grants' client_id"),
        field("Grant lifetime (seconds)", lifetime, `default ${GRANT_LIFETIME.defaultSeconds}, at most ${GRANT_LIFETIME.maxSeconds}`),
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
            name: name.value.trim(),
            scopes: scopes.selected(),
            grantLifetimeSeconds: parseSeconds(lifetime.value, "The grant lifetime", GRANT_LIFETIME.maxSeconds),
          };
          if (request.scopes.length === 0) throw new Error("Pick at least one scope: an API key needs one");
          const created = await busy(create, () => admin.createApiKey(request));
          const keyName = created.apiKey?.name ?? request.name;
          form.remove();
          context.notice(`API key "${keyName}" was created.`);
          void table.reload();
          await showSecretOnce({ title: "API key created", what: "API key", facts: [["Name", keyName]] }, created.key);
        } catch (failure) {
          error.textContent = errorText(failure);
          error.hidden = false;
        }
      })();
    };
    formSlot.replaceChildren(form);
    name.focus();
    knownScopes(admin).then(
      (known) => scopes.setKnown(known),
      (failure: unknown) => scopes.setFailed(describeError(failure).text),
    );
  }

  void table.reload();
  return {
    element: h("section", { testid: "api-keys-view" }, h("div", { class: "toolbar" }, h("h2", {}, "API keys"), refresh, newButton), formSlot, table.element),
  };
}
