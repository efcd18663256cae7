import type { Domain } from "../app.js";
import type { CallEdge } from "../edge/call-edge.js";
import type { NodeRequest, NodeResponse } from "../edge/node-http.js";
import { sendJson } from "./json-response.js";
import { authorizationServerMetadata, handleOAuthEndpoint, OAUTH_ENDPOINT_PATHS, oauthEndpoints } from "./oauth-endpoints.js";

/** Resolves true when the request was answered here; false hands it on. */
export type HttpRoute = (req: NodeRequest, res: NodeResponse) => boolean;

/** The request's path, without the query. */
export function pathOf(req: NodeRequest): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

const DOCUMENT_PATHS = ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server"] as const;
const ROUTE_PATHS = new Set<string>([...OAUTH_ENDPOINT_PATHS, ...DOCUMENT_PATHS]);

/** Whether httpRoutes answers this request's path (for answers given before a tenant's routes exist). */
export const isHttpRoute = (req: NodeRequest): boolean => ROUTE_PATHS.has(pathOf(req));
/** Whether the request is for one of the discovery documents (JWKS, RFC 8414 metadata). */
export const isDocument = (req: NodeRequest): boolean => (DOCUMENT_PATHS as readonly string[]).includes(pathOf(req));

/** The plain-HTTP endpoints served next to the RPCs on the same port. */
export function httpRoutes(domain: Domain, edge: CallEdge): HttpRoute {
  const endpoints = new Map(Object.entries(oauthEndpoints(domain, edge)));
  const byPath: Record<(typeof DOCUMENT_PATHS)[number], { body: () => unknown; maxAge: number }> = {
    // Short max-age: a rotated key is published before it signs, so caches catch up in time.
    "/.well-known/jwks.json": { body: () => ({ keys: domain.keyRing.publicJwks() }), maxAge: 60 },
    "/.well-known/oauth-authorization-server": { body: () => authorizationServerMetadata(domain), maxAge: 300 },
  };
  const documents = new Map(Object.entries(byPath));
  return (req, res) => {
    const path = pathOf(req);
    const endpoint = endpoints.get(path);
    if (endpoint !== undefined) {
      handleOAuthEndpoint(edge, path, endpoint, req, res);
      return true;
    }
    const document = documents.get(path);
    if (document !== undefined) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendJson(res, 405, { error: "invalid_request", error_description: "use GET" }, { allow: "GET, HEAD" });
        return true;
      }
      sendJson(res, 200, document.body(), { "cache-control": `public, max-age=${document.maxAge}` });
      return true;
    }
    return false;
  };
}
