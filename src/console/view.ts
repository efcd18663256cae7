import { confirmAction, h } from "./dom.js";
import type { AdminClient } from "./session.js";

/** What each tab gets from the app shell. */
export interface ViewContext {
  /** The tenant the tab manages: DEFAULT_TENANT, or the one a platform administrator picked. */
  tenant: string;
  admin: AdminClient;
  /** Shows a failed call in the page's error banner, prefixed with what was being done. */
  fail(doing: string, error: unknown): void;
  notice(text: string): void;
  clearBanners(): void;
}

export interface View {
  element: HTMLElement;
}

/** Page size of the lists (the server allows up to 500). */
export const LIST_PAGE_SIZE = 50;

/**
 * A table filled a page at a time: `load` gets a page token ("" for the
 * first page) and returns rows and the next token ("" on the last page).
 */
export class PagedTable<T> {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly empty: HTMLParagraphElement;
  private readonly more: HTMLButtonElement;
  private nextPageToken = "";
  /** Bumped on every reload, so a slow earlier load cannot append to a newer list. */
  private generation = 0;

  constructor(
    private readonly options: {
      testid: string;
      noun: string;
      headings: string[];
      /** The label of the button that loads the next page; default "Load more". */
      moreLabel?: string;
      load: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>;
      row: (item: T) => HTMLTableRowElement;
      fail: (doing: string, error: unknown) => void;
    },
  ) {
    this.body = h("tbody");
    this.empty = h("p", { class: "empty", testid: `${options.testid}-empty`, hidden: true }, `No ${options.noun} yet.`);
    this.more = h("button", { type: "button", class: "more", testid: `${options.testid}-more`, hidden: true }, options.moreLabel ?? "Load more");
    this.more.onclick = () => void this.loadPage(this.generation);
    this.element = h(
      "div",
      {},
      h(
        "div",
        { class: "table-scroll", testid: "table-scroll" },
        h("table", { testid: `${options.testid}-table` }, h("thead", {}, h("tr", {}, ...options.headings.map((heading) => h("th", {}, heading)))), this.body),
      ),
      this.empty,
      this.more,
    );
  }

  /** Each cell gets its column's heading as data-label: a narrow screen shows the rows as cards, each value under its label. */
  private labelled(row: HTMLTableRowElement): HTMLTableRowElement {
    Array.from(row.cells).forEach((cell, index) => (cell.dataset.label = this.options.headings[index] ?? ""));
    return row;
  }

  async reload(): Promise<void> {
    this.generation++;
    this.nextPageToken = "";
    this.body.replaceChildren();
    await this.loadPage(this.generation);
  }

  private async loadPage(generation: number): Promise<void> {
    this.element.dataset.state = "loading";
    this.more.disabled = true;
    try {
      const page = await this.options.load(this.nextPageToken);
      if (generation !== this.generation) return;
      this.body.append(...page.items.map((item) => this.labelled(this.options.row(item))));
      this.nextPageToken = page.nextPageToken;
      this.more.hidden = page.nextPageToken === "";
      this.empty.hidden = this.body.childElementCount > 0;
      this.element.dataset.state = "ready";
    } catch (error) {
      if (generation !== this.generation) return;
      this.element.dataset.state = "failed";
      this.options.fail(`Listing the ${this.options.noun}`, error);
    } finally {
      this.more.disabled = false;
    }
  }
}

/** Runs `action` with `button` disabled, so a double click cannot send it twice. */
export async function busy<T>(button: HTMLButtonElement, action: () => Promise<T>): Promise<T> {
  button.disabled = true;
  try {
    return await action();
  } finally {
    button.disabled = false;
  }
}

/**
 * Asks `question` first; once confirmed, runs `action` with the banners
 * cleared, and shows its failure as `doing`.
 */
export async function afterConfirming(context: ViewContext, question: Parameters<typeof confirmAction>[0], doing: string, action: () => Promise<void>): Promise<void> {
  if (!(await confirmAction(question))) return;
  context.clearBanners();
  try {
    await action();
  } catch (error) {
    context.fail(doing, error);
  }
}

/** "" → 0n (the server default); otherwise a whole number of seconds in [1, max]. */
export function parseSeconds(value: string, what: string, max: number): bigint {
  const text = value.trim();
  if (text === "") return 0n;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new Error(`${what} must be a whole number of seconds from 1 to ${max}, or empty for the default`);
  return BigInt(text);
}

/** What the server says of a lifetime setting: what 0 (empty) means, and the longest it may be. */
export interface LifetimeLimits {
  defaultSeconds: bigint;
  maxSeconds: bigint;
}

/**
 * A lifetime field (seconds; empty for the default) that shows "default N s,
 * at most M s" once the server has told them, and then bounds its value by
 * that maximum; `limit` bounds it until then.
 */
export function lifetimeField(label: string, testid: string, limits: Promise<LifetimeLimits>, limit: number, value?: bigint) {
  const input = h("input", { type: "number", testid, min: "1", max: String(limit), placeholder: "server default", value: value === undefined ? "" : String(value) });
  const hint = h("span", { class: "hint", testid: `${testid}-limits` });
  let max = limit;
  limits.then(
    ({ defaultSeconds, maxSeconds }) => {
      max = Number(maxSeconds);
      input.max = String(maxSeconds);
      input.placeholder = `default ${defaultSeconds} s, at most ${maxSeconds} s`;
      hint.textContent = ` — empty: default ${defaultSeconds} s; at most ${maxSeconds} s`;
    },
    // The server checks it anyway; the form just cannot say the numbers.
    () => undefined,
  );
  return {
    element: h("label", {}, label, hint, input),
    input,
    /** The value as the AdminService takes it: 0n for the default. */
    seconds: (what: string) => parseSeconds(input.value, what, max),
  };
}

/** Whether two lists hold the same values (de-duplicated lists: scopes, audiences, methods), in any order. */
export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value) => b.includes(value));
}
