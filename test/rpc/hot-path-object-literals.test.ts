import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * On Node 20 (V8 11.3) an object literal that spreads an existing object and
 * then adds properties (`{ ...caller, clientId, … }`) takes a slow path:
 * ~0.7 µs per property added after the spread (a five-property literal of
 * that shape cost 3.6 µs, written out 6 ns), and the object it makes is slow
 * to read afterwards. IssueClientToken built its credentials that way; writing
 * them out cut 16–24 % of its CPU per call over Connect (npm run bench:ab).
 * This test keeps the pattern out of the code that runs on every request.
 * A spread of an object literal (`...(cond ? { a } : {})`) is fine and allowed.
 */

const ROOT = join(import.meta.dirname, "../..");
/** Code that runs once (start-up, administration, the console, the CLI), where the pattern costs nothing. */
const COLD = new Set([
  "src/app.ts",
  "src/config.ts",
  "src/worker-cluster.ts",
  "src/domain/administration.ts",
  "src/keys/key-ring.ts",
  "src/http/console-route.ts",
  "src/store/create-store.ts",
  "src/store/redis.ts",
]);
const COLD_DIRECTORIES = ["src/cli/", "src/console/", "src/client/"];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** `{ a }`, `({ a })`, `cond ? { a } : {}`: spreads whose shape is known where they are written. */
function isLiteralSpread(expression: ts.Expression): boolean {
  if (ts.isParenthesizedExpression(expression)) return isLiteralSpread(expression.expression);
  if (ts.isConditionalExpression(expression)) return isLiteralSpread(expression.whenTrue) && isLiteralSpread(expression.whenFalse);
  return ts.isObjectLiteralExpression(expression);
}

/** Every `{ ...existing, then: more }` in a file, as `path:line`. */
function spreadsThenProperties(path: string, text: string): string[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isObjectLiteralExpression(node)) {
      let spreadSeen = false;
      for (const property of node.properties) {
        if (ts.isSpreadAssignment(property)) {
          if (!isLiteralSpread(property.expression)) spreadSeen = true;
        } else if (spreadSeen) {
          const { line } = file.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${relative(ROOT, path)}:${line + 1}`);
          break;
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

describe("object literals on request paths", () => {
  it("the check finds the slow shape and lets the fast ones pass", () => {
    const sample = [
      "const a = { ...callerOf(context), clientId: request.clientId };", // slow: line 1
      "const b = { clientId: 1, ...headers };", // spread last: fine
      "const c = { x: 1, ...(cond ? { u: 2 } : {}), y: 3 };", // literal spread: fine
      "const d = { ...NO_STORE,\n  'content-length': '0' };", // slow: line 4
    ].join("\n");
    expect(spreadsThenProperties(join(ROOT, "src/sample.ts"), sample)).toEqual(["src/sample.ts:1", "src/sample.ts:4"]);
  });

  it("no source file that serves requests spreads an object and then adds properties", () => {
    const files = sourceFiles(join(ROOT, "src")).filter((path) => {
      const name = relative(ROOT, path);
      return !COLD.has(name) && !COLD_DIRECTORIES.some((directory) => name.startsWith(directory));
    });
    expect(files.length).toBeGreaterThan(40);
    const found = files.flatMap((path) => spreadsThenProperties(path, readFileSync(path, "utf8")));
    expect(found).toEqual([]);
  });
});
