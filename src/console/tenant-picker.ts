import type { Tenant } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { allPages } from "../client/all-pages.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";
import { h } from "./dom.js";
import type { AdminClient } from "./session.js";

const PAGE_SIZE = 500;
/** At most this many pages of tenants in the list (10,000). */
const MAX_PAGES = 20;

/**
 * The tenant a platform administrator's session manages, in the header:
 * the default tenant first, then every tenant ListTenants has (but those
 * being deleted). Choosing one calls `onChoose`; so does a refresh that no
 * longer finds the tenant chosen, which gives way to the default, with
 * `gone` naming it.
 */
export class TenantPicker {
  readonly element: HTMLLabelElement;
  private readonly select: HTMLSelectElement;
  private tenants = new Map<string, Tenant>();

  constructor(
    private readonly platform: AdminClient,
    private readonly onChoose: (tenant: string, gone?: string) => void,
    private readonly fail: (doing: string, error: unknown) => void,
  ) {
    this.select = h("select", { testid: "tenant-picker" }, option(DEFAULT_TENANT, "default (the deployment's own)"));
    this.select.onchange = () => this.onChoose(this.select.value);
    this.element = h("label", { class: "tenant-picker" }, "Tenant", this.select);
  }

  get chosen(): string {
    return this.select.value;
  }

  /** The tenant as last listed (undefined before the first list, or if it is gone). */
  describe(id: string): Tenant | undefined {
    return this.tenants.get(id);
  }

  choose(id: string): void {
    this.select.value = id;
    this.onChoose(id);
  }

  /** Lists the tenants again; the choice stays if its tenant still exists. */
  async refresh(): Promise<void> {
    this.element.dataset.state = "loading";
    let listed: Tenant[];
    try {
      listed = await allPages(
        (pageToken) => this.platform.listTenants({ pageSize: PAGE_SIZE, pageToken }).then((response) => ({ items: response.tenants, nextPageToken: response.nextPageToken })),
        MAX_PAGES,
      );
    } catch (error) {
      this.element.dataset.state = "failed";
      this.fail("Listing the tenants", error);
      return;
    }
    const chosen = this.select.value;
    this.tenants = new Map(listed.filter((tenant) => tenant.deleteTime === undefined).map((tenant) => [tenant.id, tenant]));
    const others = [...this.tenants.values()].filter((tenant) => tenant.id !== DEFAULT_TENANT);
    this.select.replaceChildren(
      option(DEFAULT_TENANT, "default (the deployment's own)"),
      ...others.map((tenant) => option(tenant.id, tenant.displayName ? `${tenant.id} — ${tenant.displayName}` : tenant.id)),
    );
    this.element.dataset.state = "ready";
    this.select.value = chosen === DEFAULT_TENANT || this.tenants.has(chosen) ? chosen : DEFAULT_TENANT;
    if (this.select.value !== chosen) this.onChoose(DEFAULT_TENANT, chosen);
  }
}

function option(value: string, label: string): HTMLOptionElement {
  return h("option", { value }, label);
}
