import { describe, expect, it } from "vitest";
import { storeKeys } from "../../src/store/store.js";
import { tenantKey, tenantKeyPrefix } from "../../src/store/tenant-store.js";

/** Tenants' keys (issue 19 item 5): each keeps its hash tag, with the tenant in it, under the tenant's own prefix. */
describe("tenantKey", () => {
  const hashTag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];

  it("leaves the default tenant's keys as a deployment without tenants writes them", () => {
    expect(tenantKey("default", storeKeys.clients())).toBe("admin:{clients}");
  });

  it.each(Object.entries(storeKeys).map(([name, key]) => [name, (key as (...args: string[]) => string)("a", "b")]))(
    "%s: under t:<tenant>:, with the tenant inside the hash tag",
    (_name, key) => {
      const mapped = tenantKey("acme", key);
      expect(mapped.startsWith(tenantKeyPrefix("acme"))).toBe(true);
      expect(hashTag(mapped)).toBe(`acme:${hashTag(key)}`);
      expect(tenantKey("acme", key)).not.toBe(tenantKey("acm", key));
    },
  );

  it("a tenant's singletons (its clients, its key ring) differ in hash tag from another's, so tenants spread over a Cluster", () => {
    expect(hashTag(tenantKey("acme", storeKeys.clients()))).not.toBe(hashTag(tenantKey("globex", storeKeys.clients())));
  });

  it("refuses a key without a hash tag rather than put it in an arbitrary slot", () => {
    expect(() => tenantKey("acme", "no-tag")).toThrow(/hash tag/);
  });
});
