import type { Store } from "../../src/store/store.js";

/**
 * `inner` with every call but close() passed through `intercept`, which may
 * fail it, hold it or act around it, then `proceed` (a Proxy: it follows the
 * Store interface as it grows).
 */
export function interceptedStore(
  inner: Store,
  intercept: (operation: string, args: unknown[], proceed: () => Promise<unknown>) => Promise<unknown>,
): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "close") return value;
      return (...args: unknown[]) => intercept(String(property), args, async () => (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}
