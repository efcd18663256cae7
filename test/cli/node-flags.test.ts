import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SERVER_NODE_FLAGS } from "../../bench/lib/server.js";

/**
 * The server runs with a 64 MiB young generation (bench/RESULTS.md: a quarter
 * to a third less CPU per request). Every way the project starts it must
 * pass the flag: npm start, the production start, the bin's shebang, and
 * the bench (which must measure the server as shipped).
 */
const ROOT = path.resolve(import.meta.dirname, "../..");
const FLAG = "--max-semi-space-size=64";

describe("node flags of the shipped start commands", () => {
  it("npm start and start:production pass the flag to node, before the script", () => {
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    for (const name of ["start", "start:production"]) {
      expect(scripts[name], name).toMatch(new RegExp(`node ${FLAG} bin/tokensmith\\.js serve`));
    }
  });

  it("the bin's shebang passes it (env -S), and the bench uses the same flags", () => {
    const firstLine = readFileSync(path.join(ROOT, "bin/tokensmith.js"), "utf8").split("\n")[0];
    expect(firstLine).toBe(`#!/usr/bin/env -S node ${FLAG}`);
    expect(SERVER_NODE_FLAGS).toEqual([FLAG]);
  });

  it("the shebang line works: the bin runs as an executable and answers --help", () => {
    const out = execFileSync(path.join(ROOT, "bin/tokensmith.js"), ["--help"], { cwd: ROOT, encoding: "utf8" });
    expect(out).toContain("usage: tokensmith");
  });
});
