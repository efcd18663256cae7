#!/usr/bin/env -S node --max-semi-space-size=64
// --max-semi-space-size=64: a 64 MiB young generation (Node's default is 16 MiB) cuts the
// server's CPU per request by a quarter to a third under load (bench/RESULTS.md); the
// cluster workers inherit it. Set it on `node` yourself when starting this file another way.
// Production (NODE_ENV=production) runs the compiled build from `npm run build`;
// otherwise the TypeScript sources run through tsx's loader, no build step needed.
import { existsSync } from "node:fs";

const compiled = new URL("../dist/src/cli.js", import.meta.url);
if (process.env.NODE_ENV === "production" && existsSync(compiled)) {
  await import(compiled.href);
} else {
  if (process.env.NODE_ENV === "production") {
    process.stderr.write("tokensmith: no production build found (run `npm run build`); running the TypeScript sources\n");
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli.ts");
}
