import type { Reporter, TestModule } from "vitest/node";

/**
 * Prints the plain closing line CI reads: `tests: N passed, M failed`.
 * A file that fails to load (or an unhandled error) counts as a failure.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      let failedInModule = 0;
      for (const testCase of module.children.allTests()) {
        const state = testCase.result().state;
        if (state === "passed") passed += 1;
        else if (state === "failed") failedInModule += 1;
        else skipped += 1;
      }
      // A file that failed outside any test (load error, beforeAll hook) is a failure too.
      if (failedInModule === 0 && module.state() === "failed") failedInModule = 1;
      failed += failedInModule;
    }
    failed += unhandledErrors.length;
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}\n`);
  }
}
