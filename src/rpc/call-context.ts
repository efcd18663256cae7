import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { NodeRequest, PeerOf } from "../edge/node-http.js";

/** The caller's network address: the socket's, or the one a trusted proxy forwarded (http/client-address.ts). */
export const peerKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

/** The context values of each call, with the peer as the edge tells it. */
export function contextValuesOf(peerOf: PeerOf): (req: NodeRequest) => ContextValues {
  return (req) => createContextValues().set(peerKey, peerOf(req));
}

/** What the domain needs to know about who is calling: the authorization header and the peer. */
export function callerOf(context: HandlerContext): { authorization: string | null; peer: string | undefined } {
  return { authorization: context.requestHeader.get("authorization"), peer: context.values.get(peerKey) };
}
