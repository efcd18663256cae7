import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { NodeRequest } from "../http/http-routes.js";

/** The caller's network address, taken from the socket. */
export const peerKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

export function contextValuesOf(req: NodeRequest): ContextValues {
  return createContextValues().set(peerKey, req.socket?.remoteAddress);
}

/** What the domain needs to know about who is calling: the authorization header and the peer. */
export function callerOf(context: HandlerContext): { authorization: string | null; peer: string | undefined } {
  return { authorization: context.requestHeader.get("authorization"), peer: context.values.get(peerKey) };
}
