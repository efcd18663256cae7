import { invalidRequest, OAuthError } from "../domain/oauth-error.js";
import type { NodeRequest } from "./http-routes.js";

export const MAX_FORM_BYTES = 64 * 1024;

/** Parameters that may appear more than once (RFC 8707 `resource`); RFC 6749 §3.2 forbids repeating any other. */
const REPEATABLE = new Set(["resource", "audience"]);

export interface FormParameters {
  get(name: string): string | undefined;
  getAll(name: string): string[];
}

/**
 * Reads an application/x-www-form-urlencoded body, refusing it before
 * parsing when it is not a form or larger than the limit.
 */
export async function readForm(req: NodeRequest, limit = MAX_FORM_BYTES): Promise<FormParameters> {
  const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (contentType !== "application/x-www-form-urlencoded") {
    drain(req);
    throw invalidRequest("the request body must be application/x-www-form-urlencoded");
  }
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    drain(req);
    throw new OAuthError("invalid_request", "invalid_argument", `request body too large: at most ${limit} bytes`);
  }
  const body = await readBody(req, limit);
  const params = new URLSearchParams(body);
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (seen.has(name) && !REPEATABLE.has(name)) throw invalidRequest(`parameter "${name.slice(0, 64)}" must not be repeated`);
    seen.add(name);
  }
  return {
    get: (name) => params.get(name) ?? undefined,
    getAll: (name) => params.getAll(name),
  };
}

/** Collects the body with plain events (cheaper than async iteration on this hot path), refusing it past `limit`. */
function readBody(req: NodeRequest, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        drain(req);
        reject(new OAuthError("invalid_request", "invalid_argument", `request body too large: at most ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

/** Discards the rest of a refused body so the connection can be reused. */
function drain(req: NodeRequest): void {
  req.resume();
}
