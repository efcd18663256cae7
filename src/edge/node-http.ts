import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/**
 * A request and its response as Node gives them on the one port (HTTP/1.1 or
 * HTTP/2 compatibility API). Here, outside rpc/ and http/, because both
 * transports serve them and neither should import the other for a type.
 */
export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;
/** The address a request counts against (http/client-address.ts). */
export type PeerOf = (req: NodeRequest) => string | undefined;
