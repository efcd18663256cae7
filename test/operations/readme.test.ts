import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnvironment, killCliProcesses, repoRoot, runCli, type Run } from "../support/cli-process.js";
import { shellBlocks } from "../support/readme-blocks.js";
import { freePort } from "../support/redis-server.js";

/**
 * The README's shell examples, run as written and in order against a server started as the quick
 * start starts it (`npm start`: the memory store and its demo credentials), with the variables its
 * banner tells the reader to export. Each block runs under `bash -euo pipefail` in a scratch
 * directory that looks like the checkout (its entries linked), so files the examples write stay
 * out of it; the shell variables a block sets are there for the next, as in one terminal. A block
 * that cannot run here carries `<!-- not run: reason -->` on the line directly above its fence.
 */

const BLOCK_TIMEOUT_MS = 120_000;
const blocks = shellBlocks(readFileSync(join(repoRoot, "README.md"), "utf8"));

/** Sources the state the previous blocks left, runs the block, then saves every variable it has for the next one. */
const RUNNER = `
cd "$README_WORKDIR"
source "$README_STATE"
source "$README_BLOCK"
for __readme_name in $(compgen -v); do
  case "$__readme_name" in
    __readme_*|README_*|BASH*|FUNCNAME|PIPESTATUS|GROUPS|DIRSTACK|_|RANDOM|SRANDOM|SECONDS|LINENO|EPOCH*|HISTCMD|PPID|SHLVL|PWD|OLDPWD|UID|EUID|SHELLOPTS|IFS|OPTIND|OPTARG|COMP_WORDBREAKS) continue ;;
  esac
  __readme_decl="$(declare -p "$__readme_name" 2>/dev/null)" || continue
  case "$__readme_decl" in "declare -"*r*" "*) continue ;; esac
  printf '%s\\n' "$__readme_decl"
done > "$README_STATE.next"
`;

/** An OAuth error (RFC 6749 §5.2) or a Connect error answer in a block's output. */
const ERROR_ANSWER = /"error"\s*:\s*"|^\s*\{\s*"code"\s*:\s*"/m;

/**
 * The `"name":value` pairs of the JSON a block's `# {…}` comments show (whole values only: no `…`)
 * that its output lacks, compared without the spaces a pretty printer (buf curl) puts after `:`.
 */
function missingFragments(code: string, output: string): string[] {
  const shown = code.split("\n").flatMap((line) => {
    const comment = line.match(/#\s*(\{.*)$/)?.[1];
    return comment === undefined ? [] : [...comment.matchAll(/"[\w.]+":(?:true|false|-?\d+|"[^"…]*")(?=[,}])/g)].map((match) => match[0]);
  });
  const printed = output.replace(/"\s*:\s*/g, '":');
  return shown.filter((fragment) => !printed.includes(fragment));
}

function runBlock(code: string, env: NodeJS.ProcessEnv, dir: string): Promise<{ code: number | null; output: string }> {
  const blockFile = join(dir, "block.sh");
  writeFileSync(blockFile, `${code}\n`);
  return new Promise((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", RUNNER], {
      env: { ...env, README_WORKDIR: join(dir, "work"), README_STATE: join(dir, "state.sh"), README_BLOCK: blockFile },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n[timed out after ${BLOCK_TIMEOUT_MS / 1000} s]`;
      process.kill(-child.pid!, "SIGKILL");
    }, BLOCK_TIMEOUT_MS);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ code: status, output });
    });
  });
}

describe("README.md", () => {
  it("marks every shell block it does not run with a reason, and runs at least the quick start's examples", () => {
    expect(blocks.length).toBeGreaterThan(10);
    for (const block of blocks.filter((b) => b.notRun !== undefined)) expect(block.notRun!.length, `README.md:${block.line}`).toBeGreaterThan(3);
    expect(blocks.filter((b) => b.notRun === undefined).length).toBeGreaterThan(blocks.length / 3);
  });

  it("reads markers only directly above a shell fence, and only with a reason", () => {
    const fence = "```";
    expect(shellBlocks(`text\n<!-- not run: needs a Docker engine -->\n${fence}sh\ndocker compose up\n${fence}\n${fence}bash\necho hi\n${fence}\n${fence}yaml\na: 1\n${fence}\n`)).toEqual([
      { line: 3, code: "docker compose up", notRun: "needs a Docker engine" },
      { line: 6, code: "echo hi" },
    ]);
    expect(() => shellBlocks(`<!-- not run: a reason -->\n\n${fence}sh\necho\n${fence}\n`)).toThrow(/directly above/);
    expect(() => shellBlocks(`<!-- not run: a reason -->\n${fence}yaml\na: 1\n${fence}\n`)).toThrow(/directly above/);
    expect(() => shellBlocks(`<!-- not run: -->\n${fence}sh\necho\n${fence}\n`)).toThrow(/needs a reason/);
    expect(() => shellBlocks(`${fence}sh\necho\n`)).toThrow(/never closed/);
  });

  describe("runs its shell examples in order against the quick start's server", () => {
    let server: Run;
    let dir: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      server = runCli(["serve"], { TOKENSMITH_PORT: String(await freePort()), TOKENSMITH_LOG_LEVEL: "warn" });
      const [, exported = ""] = await server.waitForStdout(/^\s*export (TOKENSMITH_URL=.*)$/m);
      // What the reader pastes: NAME=value pairs (the banner's values have no spaces or quotes).
      const variables = Object.fromEntries(exported.trim().split(/\s+/).map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
      expect(Object.keys(variables)).toEqual(expect.arrayContaining(["TOKENSMITH_URL", "CLIENT_ID", "CLIENT_SECRET", "API_KEY"]));
      dir = mkdtempSync(join(tmpdir(), "tokensmith-readme-"));
      const work = join(dir, "work");
      mkdirSync(work);
      // node_modules is a directory of links, not a link: an example that reinstalls (npm ci) must not empty the checkout's.
      for (const entry of readdirSync(repoRoot)) if (entry !== ".git" && entry !== "node_modules") symlinkSync(join(repoRoot, entry), join(work, entry));
      mkdirSync(join(work, "node_modules"));
      for (const entry of readdirSync(join(repoRoot, "node_modules"))) symlinkSync(join(repoRoot, "node_modules", entry), join(work, "node_modules", entry));
      // `tokensmith` on PATH, as `npm link` or an install puts it.
      mkdirSync(join(dir, "bin"));
      symlinkSync(join(repoRoot, "bin", "tokensmith.js"), join(dir, "bin", "tokensmith"));
      writeFileSync(join(dir, "state.sh"), "");
      const base = cleanEnvironment(variables);
      env = { ...base, PATH: [join(dir, "bin"), join(repoRoot, "node_modules", ".bin"), join(repoRoot, "bin"), base.PATH].join(":") };
    }, 60_000);

    afterAll(() => {
      server?.child.kill("SIGTERM");
      killCliProcesses();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    for (const block of blocks) {
      const name = `README.md:${block.line}: ${block.code.split("\n")[0]!.slice(0, 80)}`;
      if (block.notRun !== undefined) {
        it.skip(`${name} (not run: ${block.notRun})`, () => {});
        continue;
      }
      it(name, async () => {
        const { code, output } = await runBlock(block.code, env, dir);
        const failure =
          code !== 0
            ? `exited with ${code}`
            : ERROR_ANSWER.test(output)
              ? "answered an error (curl -s exits 0 on one)"
              : missingFragments(block.code, output).map((fragment) => `printed no ${fragment}, which its comments show`).join("; ") || undefined;
        if (failure !== undefined) {
          throw new Error(`README.md:${block.line}: the block ${failure}\n--- block ---\n${block.code}\n--- output ---\n${output}\n--- server ---\n${server.stdout().slice(-3000)}${server.stderr().slice(-2000)}`);
        }
        renameSync(join(dir, "state.sh.next"), join(dir, "state.sh"));
      }, BLOCK_TIMEOUT_MS + 10_000);
    }
  });
});
