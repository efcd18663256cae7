import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { NodeRequest, PeerOf } from "../edge/node-http.js";
import type { Domain } from "../app.js";
import { invalidRequest } from "../domain/oauth-error.js";

/** The caller's network address: the socket's, or the one a trusted proxy forwarded (http/client-address.ts). */
export const peerKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

/** The domain of the tenant a call is for, or why the call names no one tenant; set by the edge per request. */
const tenantKey = createContextKey<Domain | string | undefined>(undefined, { description: "tenant domain" });
const tenantOfRequest = new WeakMap<NodeRequest, Domain | string>();

/** The edge tells the calls of `req` their tenant's domain, or (a string) why the request names no one tenant. */
export function setRequestTenant(req: NodeRequest, tenant: Domain | string): void {
  tenantOfRequest.set(req, tenant);
}

/** The context values of each call, with the peer as the edge tells it, and the call's tenant. */
export function contextValuesOf(peerOf: PeerOf): (req: NodeRequest) => ContextValues {
  return (req) => {
    const values = createContextValues().set(peerKey, peerOf(req));
    const tenant = tenantOfRequest.get(req);
    return tenant === undefined ? values : values.set(tenantKey, tenant);
  };
}

/** The domain a call is for: its tenant's, or `fallback` (the default tenant's) when the edge set none. */
export function domainOfCall(context: HandlerContext, fallback: Domain): Domain {
  const tenant = context.values.get(tenantKey);
  if (typeof tenant === "string") throw invalidRequest(tenant);
  return tenant ?? fallback;
}

/** What the domain needs to know about who is calling: the authorization header and the peer. */
export function callerOf(context: HandlerContext): { authorization: string | null; peer: string | undefined } {
  return { authorization: context.requestHeader.get("authorization"), peer: context.values.get(peerKey) };
}
