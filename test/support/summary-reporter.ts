import type { Reporter, TestModule } from "vitest/node";
import { clearLogs, findLeaks } from "./log-audit.js";
import { embedsFunctionSource } from "./test-names.js";

/**
 * Prints the plain closing line CI reads: `tests: N passed, M failed`.
 * A file that fails to load (or an unhandled error) counts as a failure.
 */
export default class SummaryReporter implements Reporter {
  onInit(): void {
    clearLogs();
  }

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
    // Test names are read by people: one holding a function's source (an .each over functions, formatted by %s) fails the run.
    const unreadable = testModules.flatMap((module) => [...module.children.allTests()].map((testCase) => testCase.fullName)).filter(embedsFunctionSource);
    if (unreadable.length > 0) {
      failed += 1;
      process.exitCode = 1;
      process.stdout.write(`\ntest names FAILED: ${unreadable.length} hold a function's source (name .each cases with strings):\n  ${unreadable.slice(0, 5).map((name) => JSON.stringify(name.slice(0, 120))).join("\n  ")}\n`);
    }
    // The log audit counts as one test: no secret, API key or token in any server log of the run.
    const audit = findLeaks();
    if (audit.leaks.length > 0) {
      failed += 1;
      process.exitCode = 1;
      process.stdout.write(`\nlog audit FAILED: ${audit.leaks.length} secrets or tokens in the logs:\n  ${audit.leaks.slice(0, 20).join("\n  ")}\n`);
    } else {
      passed += 1;
      process.stdout.write(`\nlog audit: ${audit.lines} log lines from test servers, no secret, API key or token in them\n`);
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}\n`);
  }
}
