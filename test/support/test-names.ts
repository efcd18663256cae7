/**
 * Test names that embed a function's source: what `describe.each([someFunction])("… %s")` makes
 * (vitest formats a function with %s as its whole text), unreadable in every report. The summary
 * reporter fails the run on any; name such cases with a string (`[["memory", memoryBackend]]`).
 */
export function embedsFunctionSource(name: string): boolean {
  return /=>|\bfunction\s*[\w$]*\s*\(|__vite_ssr_|\n/.test(name);
}
