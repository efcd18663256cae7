import type { Tenant } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { field, h, showSecretOnce, time } from "./dom.js";
import { entityTab, sourceBadge } from "./entity-tab.js";
import type { View, ViewContext } from "./view.js";

/** What the server accepts as a tenant id (TENANT_ID): the browser checks it before sending. */
const TENANT_ID_PATTERN = "[a-z0-9]([a-z0-9\\-]{0,61}[a-z0-9])?";

/**
 * Tenants, for platform administrators (`context.admin` is the default
 * tenant's AdminService, where tenants are managed): list (paged), create
 * with an optional first admin client whose secret is shown once, delete.
 * The default tenant and config-declared ones are read-only; every live
 * tenant can be picked to manage from its row.
 */
export function tenantsView(context: ViewContext, hooks: { changed(): void; manage(id: string): void }): View {
  const { admin } = context;
  return entityTab<"id", Tenant>(context, {
    testid: "tenant",
    noun: "tenant",
    headings: ["Tenant ID", "Display name", "Issuer", "Source", "Created", "Deleted at", ""],
    list: (page) => admin.listTenants(page).then((response) => ({ items: response.tenants, nextPageToken: response.nextPageToken })),
    key: "id",
    cells: (tenant) => [
      h("td", {}, h("code", {}, tenant.id), tenant.deleteTime ? h("div", { class: "hint", testid: "tenant-being-deleted" }, "being deleted") : null),
      h("td", {}, tenant.displayName || h("span", { class: "muted" }, "—")),
      h("td", {}, h("code", {}, tenant.issuer)),
      h("td", {}, sourceBadge(tenant.source)),
      h("td", {}, time(tenant.createTime)),
      h("td", {}, time(tenant.deleteTime)),
    ],
    everyRowActions: (tenant) => {
      if (tenant.deleteTime) return [];
      const manage = h("button", { type: "button", testid: "tenant-manage", title: `Manage the clients, API keys and signing keys of "${tenant.id}"` }, "Manage");
      manage.onclick = () => hooks.manage(tenant.id);
      return [manage];
    },
    remove: {
      message: (id) =>
        `Every token of tenant "${id}" stops being active at once, everywhere; its clients, API keys and signing keys are removed, and its id is free again once they are gone. This cannot be undone.`,
      send: async (id) => {
        await admin.deleteTenant({ id });
        hooks.changed();
      },
    },
    form: {
      hint: "With a first admin client, its secret is shown once, right after creation. Without one, the tenant is managed from here: pick it in the Tenant list.",
      open: () => {
        const id = h("input", { type: "text", testid: "tenant-id", required: true, pattern: TENANT_ID_PATTERN, maxLength: 63, autocomplete: "off", spellcheck: false, placeholder: "acme" });
        const displayName = h("input", { type: "text", testid: "tenant-display-name", maxLength: 200, autocomplete: "off", placeholder: "Acme Corp" });
        const adminClientId = h("input", { type: "text", testid: "tenant-admin-client-id", autocomplete: "off", spellcheck: false, placeholder: "acme-admin" });
        return {
          fields: [
            field("Tenant ID", id, "1-63 lower-case letters, digits or -; its URLs start /t/<id>"),
            field("Display name", displayName),
            field("First admin client ID", adminClientId, "optional; a client of the tenant with tokensmith:admin"),
          ],
          first: id,
          submit: () => {
            const request = { id: id.value.trim(), displayName: displayName.value.trim(), adminClientId: adminClientId.value.trim() };
            return async () => {
              const created = await admin.createTenant(request);
              hooks.changed();
              const tenantId = created.tenant?.id ?? request.id;
              const reveal = async (): Promise<void> => {
                if (!created.adminClient) return;
                await showSecretOnce(
                  {
                    title: "Tenant created",
                    what: "secret",
                    facts: [
                      ["Tenant", tenantId],
                      ["Admin client ID", created.adminClient.id],
                      ["Its token endpoint", `${created.tenant?.issuer ?? ""}/oauth2/token`],
                    ],
                  },
                  created.adminClientSecret,
                );
              };
              return { key: tenantId, reveal };
            };
          },
        };
      },
    },
  });
}
