import { invalidRequest } from "../domain/oauth-error.js";
import type { NodeRequest } from "../edge/node-http.js";
import { readRequestBody } from "../edge/request-body.js";

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
  const tooLarge = () => invalidRequest(`request body too large: at most ${limit} bytes`);
  const body = (await readRequestBody(req, limit, tooLarge)).toString("utf8");
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

/** Discards the rest of a refused body so the connection can be reused. */
function drain(req: NodeRequest): void {
  req.resume();
}
