import { TENANT_ID } from "../domain/tenant-registry.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";
import type { NodeRequest } from "./node-http.js";

/** The metadata header that names the tenant for gRPC clients that cannot prefix paths (grpcurl, grpc-js). */
export const TENANT_HEADER = "tokensmith-tenant";

const PATH_PREFIX = "/t/";
/** RFC 8414 §3.1: the well-known suffix goes before the issuer's path. */
const METADATA_PREFIX = "/.well-known/oauth-authorization-server/t/";

export type TenantTarget =
  /** `known`: the id is well-formed (an ill-formed one cannot exist, and is answered like an unknown one). */
  | { ok: true; tenant: string; wellFormed: boolean }
  | { ok: false; message: string };

/**
 * Which tenant a request is for: the path prefix `/t/<tenant>/…` (which it
 * strips from `req.url`, so every route sees the path it always saw), the
 * RFC 8414 §3.1 metadata path, or the `tokensmith-tenant` header; else the
 * default tenant. A path and a header naming different tenants: an error.
 */
export function routeTenant(req: NodeRequest): TenantTarget {
  const url = req.url ?? "/";
  const header = req.headers[TENANT_HEADER];
  const named = typeof header === "string" ? header : Array.isArray(header) ? header.join(",") : undefined;
  let fromPath: string | undefined;
  if (url.startsWith(PATH_PREFIX)) {
    const end = url.indexOf("/", PATH_PREFIX.length);
    const query = url.indexOf("?", PATH_PREFIX.length);
    const stop = end === -1 ? (query === -1 ? url.length : query) : query !== -1 && query < end ? query : end;
    fromPath = url.slice(PATH_PREFIX.length, stop);
    const rest = url.slice(stop);
    req.url = rest.startsWith("/") ? rest : `/${rest}`;
  } else if (url.startsWith(METADATA_PREFIX)) {
    const query = url.indexOf("?");
    fromPath = url.slice(METADATA_PREFIX.length, query === -1 ? url.length : query).replace(/\/$/, "");
    req.url = `/.well-known/oauth-authorization-server${query === -1 ? "" : url.slice(query)}`;
  }
  if (fromPath !== undefined && named !== undefined && named !== fromPath) {
    return { ok: false, message: `the path names tenant "${fromPath}" and the ${TENANT_HEADER} header another: send one, or the same in both` };
  }
  const tenant = fromPath ?? named ?? DEFAULT_TENANT;
  return { ok: true, tenant, wellFormed: tenant === DEFAULT_TENANT || TENANT_ID.test(tenant) };
}
