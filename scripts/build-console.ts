// Bundles the web console (src/console/app.ts) into static/console/app.js, the file
// the server sends at /console/app.js. The bundle is committed, so a production
// install (no devDependencies, no esbuild of our own) serves the console.
// `--check` fails when the committed file is not the bundle of src/console now.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const CONSOLE_SCRIPT_PATH = fileURLToPath(new URL("../static/console/app.js", import.meta.url));

/** The console's bundle as `npm run build:console` writes it. */
export async function bundleConsole(): Promise<Buffer> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../src/console/app.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    write: false,
    logLevel: "silent",
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error("esbuild produced no output");
  return Buffer.from(file.contents);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bundle = await bundleConsole();
  if (process.argv.includes("--check")) {
    const committed = await readFile(CONSOLE_SCRIPT_PATH).catch(() => undefined);
    if (committed === undefined || !committed.equals(bundle)) {
      console.error("static/console/app.js is not the bundle of src/console: run `npm run build:console` and commit the result.");
      process.exit(1);
    }
    console.log(`static/console/app.js matches src/console (${bundle.length} bytes)`);
  } else {
    await writeFile(CONSOLE_SCRIPT_PATH, bundle);
    console.log(`static/console/app.js written (${bundle.length} bytes)`);
  }
}
