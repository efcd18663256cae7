/**
 * A few DOM helpers for the console. Text always goes in through
 * textContent (never innerHTML), so ids, scopes and messages from the server
 * cannot inject markup.
 */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

type Child = Node | string | null | undefined | false;

type Props<K extends keyof HTMLElementTagNameMap> = Partial<Omit<HTMLElementTagNameMap[K], "dataset" | "style" | "className" | "children">> & {
  /** Becomes data-testid, the hook the end-to-end test uses. */
  testid?: string;
  class?: string;
  data?: Record<string, string>;
};

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props<K> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const { testid, class: className, data, ...rest } = props;
  const element = document.createElement(tag);
  Object.assign(element, rest);
  if (testid !== undefined) element.dataset.testid = testid;
  if (className !== undefined) element.className = className;
  for (const [key, value] of Object.entries(data ?? {})) element.dataset[key] = value;
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** A label wrapping its control (implicit association, no ids needed). */
export function field(label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h("label", {}, label, hint ? h("span", { class: "hint" }, ` — ${hint}`) : null, control);
}

export function chips(values: readonly string[], empty = "—"): HTMLElement {
  if (values.length === 0) return h("span", { class: "muted" }, empty);
  return h("span", {}, ...values.map((value) => h("span", { class: "chip" }, value)));
}

/** Local date and time, with the exact UTC instant in the tooltip. */
export function time(timestamp: Timestamp | undefined): HTMLElement {
  if (timestamp === undefined) return h("span", { class: "muted" }, "—");
  const date = timestampDate(timestamp);
  return h("time", { dateTime: date.toISOString(), title: date.toISOString() }, formatDate(date));
}

export function formatDate(date: Date): string {
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** Space- or comma-separated words, de-duplicated, order kept. */
export function words(value: string): string[] {
  return [...new Set(value.split(/[\s,]+/).filter((word) => word.length > 0))];
}

/** A modal <dialog> added to <body>; it removes itself from the DOM when closed. */
function modal(testid: string, ...children: Child[]): HTMLDialogElement {
  const dialog = h("dialog", { testid }, ...children);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Asks before a destructive action; resolves true on confirm, false on cancel or Escape. */
export function confirmAction(options: { title: string; message: string; confirmLabel: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    let confirmed = false;
    const ok = h("button", { type: "button", testid: "confirm-ok", class: options.danger ? "danger primary" : "primary" }, options.confirmLabel);
    const cancel = h("button", { type: "button", testid: "confirm-cancel" }, "Cancel");
    const dialog = modal("confirm-dialog", h("h2", {}, options.title), h("p", { testid: "confirm-message" }, options.message), h("div", { class: "actions" }, cancel, ok));
    ok.onclick = () => {
      confirmed = true;
      dialog.close();
    };
    cancel.onclick = () => dialog.close();
    dialog.addEventListener("close", () => resolve(confirmed));
    cancel.focus();
  });
}

/**
 * Shows a new client secret or API key, once. Closing the dialog (button or
 * Escape) removes it, and the secret with it, from the DOM; the console keeps
 * no other copy.
 */
export function showSecretOnce(options: { title: string; what: string; facts: Array<[string, string]>; note?: string }, secret: string): Promise<void> {
  return new Promise((resolve) => {
    const value = h("code", { testid: "secret-value" }, secret);
    const status = h("div", { class: "copy-status", testid: "secret-copy-status", role: "status" });
    const copy = h("button", { type: "button", class: "primary", testid: "secret-copy" }, "Copy");
    const close = h("button", { type: "button", testid: "secret-close" }, "I have stored it — close");
    const dialog = modal(
      "secret-dialog",
      h("h2", {}, options.title),
      h("dl", { class: "facts" }, ...options.facts.flatMap(([term, detail]) => [h("dt", {}, term), h("dd", {}, h("code", {}, detail))])),
      h(
        "p",
        { class: "once", testid: "secret-once-note" },
        h("strong", {}, `Copy the ${options.what} now: it will not be shown again.`),
        options.note ?? ` Tokensmith stores only its hash, so a lost ${options.what} cannot be recovered, only replaced.`,
      ),
      h("div", { class: "secret" }, value, copy),
      status,
      h("div", { class: "actions" }, close),
    );
    copy.onclick = async () => {
      try {
        if (!navigator.clipboard) throw new Error("no clipboard API");
        await navigator.clipboard.writeText(secret);
        status.textContent = "Copied to the clipboard.";
        status.dataset.copied = "clipboard";
      } catch {
        // Not a secure context, or the clipboard permission was refused: select the text for Ctrl+C.
        const selection = window.getSelection();
        selection?.removeAllRanges();
        selection?.selectAllChildren(value);
        status.textContent = "The browser did not allow copying: the text is selected, press Ctrl+C (⌘C).";
        status.dataset.copied = "selected";
      }
    };
    close.onclick = () => dialog.close();
    dialog.addEventListener("close", () => {
      value.textContent = "";
      resolve();
    });
    copy.focus();
  });
}
