/** The shell examples of a Markdown file, as the README test runs them. */

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** The reason given by `<!-- not run: reason -->` on the line directly above the fence. */
  notRun?: string;
}

const SHELL_LANGUAGES = new Set(["sh", "bash", "shell"]);
const NOT_RUN = /^<!--\s*not run:(.*?)-->\s*$/;

/**
 * Every ```sh, ```bash and ```shell block in order. Throws on a `not run` marker with no reason or
 * not directly above a shell block, and on a fence left open: a README the test cannot read is a failure.
 */
export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = NOT_RUN.exec(lines[i]!.trim());
    const next = lines[i + 1]?.match(/^```(\w*)/);
    if (marker !== null && (next == null || !SHELL_LANGUAGES.has(next[1]!))) {
      throw new Error(`README.md:${i + 1}: a "not run" marker must be on the line directly above a \`\`\`sh fence`);
    }
    if (marker !== null && marker[1]!.trim() === "") throw new Error(`README.md:${i + 1}: a "not run" marker needs a reason`);
    const fence = lines[i]!.match(/^```(\w*)\s*$/);
    if (fence === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`README.md:${start + 1}: a code block is never closed`);
    if (!SHELL_LANGUAGES.has(fence[1]!)) continue;
    const above = start > 0 ? NOT_RUN.exec(lines[start - 1]!.trim()) : null;
    blocks.push({ line: start + 1, code: body.join("\n"), ...(above !== null ? { notRun: above[1]!.trim() } : {}) });
  }
  return blocks;
}
