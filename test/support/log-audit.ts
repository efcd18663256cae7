import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { hasValidChecksum, type SecretKind } from "../../src/domain/secret-format.js";

export const LOG_DIR = join(import.meta.dirname, "..", "..", "test-artifacts", "logs");

const SECRET = /tks_(cs|ak|gr)_[0-9A-Za-z]{49}/g;
const KIND: Record<string, SecretKind> = { cs: "client_secret", ak: "api_key", gr: "grant" };
// A signed JWT: two base64url JSON segments and a signature.
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{20,}/g;

export function clearLogs(): void {
  rmSync(LOG_DIR, { recursive: true, force: true });
}

/**
 * Every secret Tokensmith makes carries a prefix and a checksum, and every
 * token is a JWT or a grant, so a leak can be found without knowing which
 * secrets a test created: search the logs for anything shaped like one.
 */
export function findLeaks(dir = LOG_DIR): { lines: number; leaks: string[] } {
  let files: string[];
  try {
    files = readdirSync(dir).filter((name) => name.endsWith(".log"));
  } catch {
    return { lines: 0, leaks: [] };
  }
  const leaks: string[] = [];
  let lines = 0;
  for (const file of files) {
    const text = readFileSync(join(dir, file), "utf8");
    lines += text.split("\n").length - 1;
    for (const match of text.matchAll(SECRET)) {
      if (hasValidChecksum(match[0], KIND[match[1]!]!)) leaks.push(`${file}: ${match[0].slice(0, 14)}…`);
    }
    for (const match of text.matchAll(JWT)) leaks.push(`${file}: ${match[0].slice(0, 24)}…`);
  }
  return { lines, leaks };
}
