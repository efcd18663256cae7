import { afterAll, describe, expect, it, vi } from "vitest";
import { killCliProcesses, runCli } from "../support/cli-process.js";

/**
 * `tokensmith` with no command is a usage error (exit 2, usage on stderr, as
 * for an unknown command); asking for help is not (exit 0, usage on stdout).
 */

// Each case starts Node with the TypeScript loader: seconds on a busy two-core machine.
vi.setConfig({ testTimeout: 60_000 });

afterAll(() => killCliProcesses());

describe("the usage of the tokensmith command", () => {
  it("no command: exit code 2, the usage on stderr and nothing on stdout", async () => {
    const run = runCli([]);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain("usage: tokensmith <command>");
    expect(run.stderr()).toMatch(/no command/);
    expect(run.stdout()).toBe("");
  });

  it.each([["--help"], ["-h"], ["help"]])("%s: exit code 0, the usage on stdout and nothing on stderr", async (flag) => {
    const run = runCli([flag]);
    expect((await run.exited).code).toBe(0);
    expect(run.stdout()).toContain("usage: tokensmith <command>");
    expect(run.stderr()).toBe("");
  });
});
