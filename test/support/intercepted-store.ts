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

/**
 * For a race test: `intercept` (for interceptedStore) holds the next call
 * that `isHeld` picks once `holdNext()` asks for it, so another call can run
 * in between: `reached` resolves when a call gets there, `release()` lets it
 * proceed. Only one call is held per holdNext().
 */
export function callHolder(isHeld: (operation: string, args: unknown[]) => boolean): {
  intercept: (operation: string, args: unknown[], proceed: () => Promise<unknown>) => Promise<unknown>;
  holdNext(): { reached: Promise<void>; release(): void };
} {
  let hold: (() => Promise<void>) | undefined;
  return {
    async intercept(operation, args, proceed) {
      if (hold !== undefined && isHeld(operation, args)) {
        const held = hold;
        hold = undefined;
        await held();
      }
      return proceed();
    },
    holdNext() {
      let reached!: () => void;
      let release!: () => void;
      const whenReached = new Promise<void>((resolve) => (reached = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      hold = async () => {
        reached();
        await released;
      };
      return { reached: whenReached, release };
    },
  };
}
