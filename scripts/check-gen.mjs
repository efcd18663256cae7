// Fails when gen/ does not match what `buf generate` makes from proto/ now.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), "tokensmith-gen-"));
const list = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? list(path) : [path];
  });
try {
  execFileSync(join(root, "node_modules/.bin/buf"), ["generate", "--template", "buf.gen.yaml", "-o", out], { cwd: root, stdio: "inherit" });
  const fresh = list(join(out, "gen")).map((p) => relative(join(out, "gen"), p)).sort();
  const committed = list(join(root, "gen")).map((p) => relative(join(root, "gen"), p)).sort();
  const stale = [
    ...fresh.filter((p) => !committed.includes(p) || !readFileSync(join(out, "gen", p)).equals(readFileSync(join(root, "gen", p)))),
    ...committed.filter((p) => !fresh.includes(p)),
  ];
  if (stale.length > 0) {
    console.error(`gen/ is stale (${stale.join(", ")}): run \`npm run generate\` and commit the result.`);
    process.exit(1);
  }
  console.log(`gen/ matches proto/ (${fresh.length} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
