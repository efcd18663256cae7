import { allPages } from "../client/all-pages.js";
import { BUILT_IN_SCOPES, PRIVILEGED_SCOPES, TENANTS_SCOPE } from "../domain/scopes.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";
import { confirmAction, h, words } from "./dom.js";
import { describeError, type AdminClient } from "./session.js";
import type { ViewContext } from "./view.js";

/** RFC 6749 §3.3 scope-token, at most 128 characters (as the server checks). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const PAGE_SIZE = 500;
/** Stop after this many pages of each list: the picker still takes free text. */
const MAX_PAGES = 20;

/** Scopes typed into a picker during this visit, offered again in the next form. */
const typedScopes = new Set<string>();

/**
 * The known scopes of `tenant`: Tokensmith's own (the privileged ones among them), the
 * union of the scopes of every client and API key (all pages of both lists),
 * and what was typed in this visit. tokensmith:tenants only in the default tenant: only
 * its clients are platform administrators (another tenant's can still be given it by hand).
 */
export async function knownScopes(admin: AdminClient, tenant: string): Promise<string[]> {
  const known = new Set([...BUILT_IN_SCOPES, ...typedScopes]);
  const [clients, apiKeys] = await Promise.all([
    allPages((pageToken) => admin.listClients({ pageSize: PAGE_SIZE, pageToken }).then((response) => ({ items: response.clients, nextPageToken: response.nextPageToken })), MAX_PAGES),
    allPages((pageToken) => admin.listApiKeys({ pageSize: PAGE_SIZE, pageToken }).then((response) => ({ items: response.apiKeys, nextPageToken: response.nextPageToken })), MAX_PAGES),
  ]);
  for (const holder of [...clients, ...apiKeys]) for (const scope of holder.scopes) known.add(scope);
  if (tenant !== DEFAULT_TENANT) known.delete(TENANTS_SCOPE);
  return [...known].sort();
}

/**
 * A form's ScopePicker, filled with the known scopes of the tenant the tab manages once they are read;
 * `held` are ticked from the start (an edit form's), without asking again for privileged ones.
 */
export function scopePickerFor({ admin, tenant }: ViewContext, testid: string, legend: string, held: readonly string[] = []): ScopePicker {
  const picker = new ScopePicker(testid, legend, held);
  knownScopes(admin, tenant).then(
    (known) => picker.setKnown(known),
    (failure: unknown) => picker.setFailed(describeError(failure).text),
  );
  return picker;
}

/**
 * Checkboxes for the known scopes, and a text field to add new ones (space-
 * or comma-separated), which join the list checked. A privileged scope is
 * marked, and ticking it (or adding it) asks first: declined, it stays
 * unticked. That confirmation is the only one: submitting does not ask again.
 */
export class ScopePicker {
  readonly element: HTMLFieldSetElement;
  private readonly options: HTMLDivElement;
  private readonly input: HTMLInputElement;
  private readonly error: HTMLParagraphElement;

  constructor(testid: string, legend: string, held: readonly string[] = []) {
    this.options = h("div", { class: "scope-options", testid: "scope-options" }, h("span", { class: "muted" }, "Loading the known scopes…"));
    for (const scope of held) this.option(scope, true);
    this.input = h("input", { type: "text", testid: "scope-add-input", placeholder: "another:scope (space-separated for several)", autocomplete: "off" });
    const add = h("button", { type: "button", testid: "scope-add" }, "Add");
    this.error = h("p", { class: "form-error", testid: "scope-add-error", hidden: true });
    add.onclick = () => void this.addTyped();
    this.input.onkeydown = (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        void this.addTyped();
      }
    };
    this.element = h(
      "fieldset",
      { testid },
      h("legend", {}, legend),
      this.options,
      h("div", { class: "scope-add" }, this.input, add),
      this.error,
    );
  }

  /** Fills in the known scopes (keeping what is already checked). */
  setKnown(scopes: readonly string[]): void {
    const checked = new Set(this.selected());
    this.options.replaceChildren();
    for (const scope of scopes) this.option(scope, checked.has(scope));
    for (const scope of checked) if (!scopes.includes(scope)) this.option(scope, true);
    this.showEmpty();
  }

  setFailed(message: string): void {
    this.options.replaceChildren(h("span", { class: "form-error" }, `The known scopes could not be loaded (${message}); add scopes below.`));
  }

  selected(): string[] {
    return Array.from(this.options.querySelectorAll<HTMLInputElement>("input[type=checkbox]:checked")).map((box) => box.value);
  }

  private option(scope: string, checked: boolean): void {
    const box = h("input", { type: "checkbox", value: scope, checked });
    const power = PRIVILEGED_SCOPES[scope];
    if (power !== undefined) {
      box.onchange = () => {
        if (box.checked) void this.confirmPrivileged(scope).then((confirmed) => (box.checked = confirmed));
      };
    }
    this.options.append(
      h(
        "label",
        { class: power ? "scope-option privileged" : "scope-option", testid: "scope-option", data: { scope, privileged: String(power !== undefined) }, title: power ?? "" },
        box,
        h("span", { class: "mono" }, scope),
        power ? h("span", { class: "badge privileged", testid: "scope-privileged" }, "privileged") : null,
      ),
    );
  }

  private confirmPrivileged(scope: string): Promise<boolean> {
    return confirmAction({
      title: `Give the privileged scope ${scope}?`,
      message: `${scope} ${PRIVILEGED_SCOPES[scope] ?? ""}. Whoever holds this credential can do so too.`,
      confirmLabel: `Give ${scope}`,
      danger: true,
    });
  }

  private showEmpty(): void {
    if (this.options.querySelector("input") === null) {
      this.options.replaceChildren(h("span", { class: "muted", testid: "scope-none" }, "No scopes known yet: add them below."));
    }
  }

  private async addTyped(): Promise<void> {
    const typed = words(this.input.value);
    const invalid = typed.filter((scope) => !SCOPE_TOKEN.test(scope));
    if (invalid.length > 0) {
      this.error.textContent = `Not a valid scope: ${invalid.join(", ")} (1-128 printable ASCII characters, no quotes or backslashes).`;
      this.error.hidden = false;
      return;
    }
    this.error.hidden = true;
    this.options.querySelector("[data-testid=scope-none]")?.remove();
    this.input.value = "";
    for (const scope of typed) {
      const existing = Array.from(this.options.querySelectorAll<HTMLInputElement>("input[type=checkbox]")).find((box) => box.value === scope);
      if (existing?.checked) continue;
      if (PRIVILEGED_SCOPES[scope] !== undefined && !(await this.confirmPrivileged(scope))) continue;
      typedScopes.add(scope);
      if (existing) existing.checked = true;
      else this.option(scope, true);
    }
    this.input.focus();
  }
}
