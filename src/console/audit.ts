import type { AuditEvent } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { AUDIT_KINDS } from "../domain/audit-kinds.js";
import { field, h, time } from "./dom.js";
import { busy, LIST_PAGE_SIZE, PagedTable, type View, type ViewContext } from "./view.js";

/** The tenant's audit trail (ListAuditEvents): newest first, "Older" for the next page, filters by kind, actor and target. */
export function auditView(context: ViewContext): View {
  const kind = h("select", { testid: "audit-filter-kind" }, h("option", { value: "" }, "every kind"), ...AUDIT_KINDS.map((value) => h("option", { value }, value)));
  const actor = h("input", { type: "text", testid: "audit-filter-actor", placeholder: "client id", spellcheck: false });
  const target = h("input", { type: "text", testid: "audit-filter-target", placeholder: "client, API key, kid, tenant, peer", spellcheck: false });
  const table = new PagedTable<AuditEvent>({
    testid: "audit-events",
    noun: "audit events",
    moreLabel: "Older",
    headings: ["Time", "Kind", "Actor", "Target", "Peer", "Request ID", "Details"],
    load: async (pageToken) => {
      const page = await context.admin.listAuditEvents({ pageSize: LIST_PAGE_SIZE, pageToken, kind: kind.value, actor: actor.value.trim(), target: target.value.trim() });
      return { items: page.events, nextPageToken: page.nextPageToken };
    },
    row: (event) =>
      h(
        "tr",
        { testid: "audit-event-row", data: { kind: event.kind, target: event.target, actor: event.actorClientId } },
        h("td", {}, time(event.eventTime)),
        h("td", {}, h("code", {}, event.kind)),
        h("td", {}, actorOf(event)),
        h("td", {}, h("code", {}, event.target)),
        h("td", {}, event.peer || "—"),
        h("td", {}, h("code", { class: "muted" }, event.requestId || "—")),
        h("td", {}, detailsOf(event)),
      ),
    fail: context.fail,
  });

  const apply = h("button", { type: "submit", class: "primary", testid: "audit-filter-apply" }, "Apply filters");
  const filters = h("form", { class: "card", testid: "audit-filters" }, h("div", { class: "form-grid" }, field("Kind", kind), field("Actor", actor), field("Target", target)), h("div", { class: "form-actions" }, apply));
  filters.onsubmit = (event) => {
    event.preventDefault();
    context.clearBanners();
    void busy(apply, () => table.reload());
  };
  const refresh = h("button", { type: "button", testid: "audit-events-refresh" }, "Refresh");
  refresh.onclick = () => void busy(refresh, () => table.reload());

  void table.reload();
  return {
    element: h(
      "section",
      { testid: "audit-view" },
      h("div", { class: "toolbar" }, h("h2", {}, "Audit"), refresh),
      h("p", { class: "hint" }, "Every change made through the AdminService, and every peer locked out after failed authentications, newest first."),
      filters,
      table.element,
    ),
  };
}

/** The client that acted, with its tenant when it is another's (a platform administrator); Tokensmith itself, or no one. */
function actorOf(event: AuditEvent): HTMLElement {
  if (event.actorClientId === "") return h("span", { class: "muted" }, event.kind === "signing_key.rotated" ? "Tokensmith (scheduled)" : "—");
  return h("span", {}, h("code", {}, event.actorClientId), event.actorTenant !== event.tenant ? h("span", { class: "hint" }, ` of ${event.actorTenant}`) : "");
}

function detailsOf(event: AuditEvent): HTMLElement {
  const entries = Object.entries(event.details);
  if (entries.length === 0) return h("span", { class: "muted" }, "—");
  return h("span", {}, ...entries.map(([name, value]) => h("span", { class: "chip" }, `${name}: ${value}`)));
}
