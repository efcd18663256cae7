import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateSecret } from "../../src/domain/secret-format.js";
import { findLeaks } from "../support/log-audit.js";

describe("the log audit that runs over every test server's logs", () => {
  const dirs: string[] = [];
  const logDir = (lines: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), "audit-"));
    dirs.push(dir);
    writeFileSync(join(dir, "1.log"), `${lines.join("\n")}\n`);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ["a client secret", generateSecret("client_secret")],
    ["an API key", generateSecret("api_key")],
    ["a grant", generateSecret("grant")],
    ["a JWT", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJvcmRlcnMiLCJleHAiOjF9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"],
  ])("finds %s", (_what, leaked) => {
    const { leaks } = findLeaks(logDir([JSON.stringify({ level: 30, msg: "request" }), JSON.stringify({ level: 50, detail: `x ${leaked} y` })]));
    expect(leaks).toHaveLength(1);
  });

  it("does not flag prefixes without a valid checksum, nor hashes", () => {
    const secret = generateSecret("client_secret");
    const broken = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    expect(findLeaks(logDir([broken, "sha256$AmMWmtZjRr-mIsNVzA94-K5cSlMAtjyadtxIbgpB0xg"])).leaks).toEqual([]);
  });
});
