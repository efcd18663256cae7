import { describe, expect, it } from "vitest";
import { memoryBackend } from "../support/backends.js";
import { embedsFunctionSource } from "../support/test-names.js";

/** The summary reporter's check of test names (test/support/summary-reporter.ts). */
describe("test names that embed a function's source", () => {
  it("are recognised: a function declaration, an arrow function, a method formatted by %s", () => {
    expect(embedsFunctionSource(`API-key grants on ${String(memoryBackend)}`)).toBe(true);
    expect(embedsFunctionSource(`with ${String((x: number) => x + 1)}`)).toBe(true);
    expect(embedsFunctionSource(`on ${String(async function named() {})}`)).toBe(true);
  });

  it("plain descriptions pass, the word function included", () => {
    expect(embedsFunctionSource("API-key grants on memory")).toBe(false);
    expect(embedsFunctionSource("sends the `authorization` option on every call, from a string or a function")).toBe(false);
    expect(embedsFunctionSource("exchanges again when the subject token changes (a function, or another TokenSource, gives the current one)")).toBe(false);
  });
});
