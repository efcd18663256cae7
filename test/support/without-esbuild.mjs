// `node --import` this file to run Tokensmith as an install without devDependencies
// would: its own modules cannot import esbuild. tsx, a dependency, keeps the esbuild
// it depends on (modules under node_modules/ still resolve it).
import { register } from "node:module";

const hooks = `export async function resolve(specifier, context, next) {
  const fromOurCode = context.parentURL !== undefined && !context.parentURL.includes("/node_modules/");
  if (fromOurCode && (specifier === "esbuild" || specifier.startsWith("esbuild/"))) {
    const error = new Error("Cannot find package 'esbuild' (an install without devDependencies)");
    error.code = "ERR_MODULE_NOT_FOUND";
    throw error;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
