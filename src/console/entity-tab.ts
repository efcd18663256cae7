import { Source } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { h } from "./dom.js";
import { errorText } from "./session.js";
import { afterConfirming, busy, LIST_PAGE_SIZE, PagedTable, type View, type ViewContext } from "./view.js";

/** The field that names an entity to the admin API. */
export type EntityKey = "id" | "name" | "issuer";

/** An entity the store holds or the config declares, named to the admin API by its field `K`. */
export type Entity<K extends EntityKey> = Record<K, string> & { source: Source };

/** What a create form sent, and what is still to show once the form has closed (a secret, once). */
export interface Created {
  key: string;
  reveal(): Promise<void>;
}

/** A form's own controls: `fields` go in its grid, `below` under it (a scope picker), `first` gets the focus. */
export interface FormControls<R> {
  fields: HTMLElement[];
  below?: HTMLElement[];
  first: HTMLElement;
  /** Reads the controls (throwing on bad input) and returns the call that sends them. */
  submit(): () => Promise<R>;
}

/**
 * What tells the tab of one stored entity (a client, an API key, a tenant, a trusted issuer)
 * from the others'. The rest is theirs alike: a paged list whose config-declared rows
 * are read-only (but for everyRowActions), Delete behind a confirmation, and a create form that shows
 * its error in place.
 */
export interface EntityTabOptions<K extends EntityKey, T extends Entity<K>> {
  /** Prefix of the testids ("api-key"); the list's is the plural ("api-keys"). */
  testid: string;
  /** Singular, as in running text ("API key"); the plural adds an "s". */
  noun: string;
  headings: string[];
  list(page: { pageSize: number; pageToken: string }): Promise<{ items: T[]; nextPageToken: string }>;
  /** The field that names the entity to the admin API; its row keeps it in the data attribute of that name. */
  key: K;
  /** The row's cells but the last (its actions). */
  cells(item: T): HTMLElement[];
  /** Buttons before Delete, on a stored entity's row. */
  actions?(item: T, reload: () => Promise<void>): HTMLElement[];
  /** Buttons on every row, config-declared ones too: actions that change none of the entity's settings. */
  everyRowActions?(item: T): HTMLElement[];
  remove: { message(key: string): string; send(key: string): Promise<unknown> };
  form: {
    hint: string;
    /** The create form's controls; its call creates the entity. */
    open(): FormControls<Created>;
  };
  /** An Edit button on a stored entity's row: its form's controls, filled in; the call resolves what the notice says. */
  edit?: {
    hint: string;
    open(item: T): FormControls<string>;
  };
}

/** A clients, API keys, tenants or trusted issuers tab: list (paged), create, edit (if it has `edit`), delete. Config-declared entries are read-only. */
export function entityTab<K extends EntityKey, T extends Entity<K>>(context: ViewContext, options: EntityTabOptions<K, T>): View {
  const { testid, noun } = options;
  const plural = `${noun}s`;
  const Noun = noun.charAt(0).toUpperCase() + noun.slice(1);
  const table: PagedTable<T> = new PagedTable<T>({
    testid: `${testid}s`,
    noun: plural,
    headings: options.headings,
    load: (pageToken) => options.list({ pageSize: LIST_PAGE_SIZE, pageToken }),
    row: (item) => row(item),
    fail: context.fail,
  });
  const reload = () => table.reload();

  function row(item: T): HTMLTableRowElement {
    const fromConfig = item.source === Source.CONFIG;
    const key = item[options.key];
    const actions = h("td", { class: "actions" });
    const always = options.everyRowActions?.(item) ?? [];
    if (fromConfig) {
      actions.append(...always, h("span", { class: "muted", testid: "read-only", title: "Declared in the config file: change it there." }, "read-only"));
    } else {
      const remove = h("button", { type: "button", class: "danger", testid: `${testid}-delete` }, "Delete");
      remove.onclick = () => void removeEntity(key, remove);
      const edit = options.edit ? h("button", { type: "button", testid: `${testid}-edit` }, "Edit") : null;
      if (edit) edit.onclick = () => openEdit(item);
      actions.append(...(edit ? [edit] : []), ...(options.actions?.(item, reload) ?? []), ...always, remove);
    }
    return h("tr", { testid: `${testid}-row`, data: { [options.key]: key, source: fromConfig ? "config" : "store" } }, ...options.cells(item), actions);
  }

  function removeEntity(key: string, button: HTMLButtonElement): Promise<void> {
    return afterConfirming(
      context,
      { title: `Delete the ${noun}?`, message: options.remove.message(key), confirmLabel: `Delete ${noun}`, danger: true },
      `Deleting ${noun} "${key}"`,
      async () => {
        await busy(button, () => options.remove.send(key));
        context.notice(`${Noun} "${key}" was deleted.`);
        await table.reload();
      },
    );
  }

  const formSlot = h("div", { testid: `${testid}-form-slot` });
  const newButton = h("button", { type: "button", class: "primary", testid: `${testid}-new` }, `New ${noun}`);
  const refresh = h("button", { type: "button", testid: `${testid}s-refresh` }, "Refresh");
  newButton.onclick = () => openForm();
  refresh.onclick = () => void busy(refresh, reload);

  function openForm(): void {
    showForm({ testid: `${testid}-form`, title: `New ${noun}`, hint: options.form.hint, action: [`${testid}-create`, `Create ${noun}`] }, options.form.open(), async (created) => {
      context.notice(`${Noun} "${created.key}" was created.`);
      void table.reload();
      await created.reveal();
    });
  }

  function openEdit(item: T): void {
    const edit = options.edit!;
    const key = item[options.key];
    showForm({ testid: `${testid}-edit-form`, title: `Edit ${noun} "${key}"`, hint: edit.hint, action: [`${testid}-save`, "Save changes"], key }, edit.open(item), (notice) => {
      context.notice(notice);
      void table.reload();
      return Promise.resolve();
    });
  }

  /** A form in the tab, above the list: its error shown in place; on success it closes and `done` runs. */
  function showForm<R>(
    look: { testid: string; title: string; hint: string; action: [testid: string, label: string]; key?: string },
    { fields, below = [], first, submit }: FormControls<R>,
    done: (result: R) => Promise<void>,
  ): void {
    context.clearBanners();
    const error = h("p", { class: "form-error", testid: "form-error", role: "alert", hidden: true });
    const send = h("button", { type: "submit", class: "primary", testid: look.action[0] }, look.action[1]);
    const cancel = h("button", { type: "button", testid: `${testid}-cancel` }, "Cancel");
    const form = h(
      "form",
      { class: "card", testid: look.testid, data: look.key === undefined ? {} : { [options.key]: look.key } },
      h("h3", {}, look.title),
      h("p", { class: "hint" }, look.hint),
      h("div", { class: "form-grid" }, ...fields),
      ...below,
      error,
      h("div", { class: "form-actions" }, send, cancel),
    );
    cancel.onclick = () => form.remove();
    form.onsubmit = (event) => {
      event.preventDefault();
      void (async () => {
        error.hidden = true;
        try {
          const call = submit();
          const result = await busy(send, call);
          form.remove();
          await done(result);
        } catch (failure) {
          error.textContent = errorText(failure);
          error.hidden = false;
        }
      })();
    };
    formSlot.replaceChildren(form);
    form.scrollIntoView({ block: "nearest" });
    first.focus();
  }

  void table.reload();
  return {
    element: h("section", { testid: `${testid}s-view` }, h("div", { class: "toolbar" }, h("h2", {}, `${Noun}s`), refresh, newButton), formSlot, table.element),
  };
}

export function sourceBadge(source: Source): HTMLElement {
  if (source === Source.CONFIG) return h("span", { class: "badge config", title: "Declared in the config file: read-only here" }, "config");
  return h("span", { class: "badge store", title: "Created through the AdminService" }, "store");
}
