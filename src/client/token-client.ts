import type { Client, Interceptor } from "@connectrpc/connect";
import type { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";

/** A typed client of tokensmith.v1.TokenService, whichever transport it runs on. */
export type TokenClient = Client<typeof TokenService>;

/** What both the Node and the browser variant of createTokenClient accept. */
export interface CommonTokenClientOptions {
  /** Where Tokensmith listens, e.g. `http://127.0.0.1:8080`; every protocol is served on that one port. */
  baseUrl: string;
  /** Sent as `authorization` on every call unless the call sets its own; a function is asked each call. */
  authorization?: string | (() => string | Promise<string>);
  /** Connect protocol only: protobuf binary instead of JSON. */
  useBinaryFormat?: boolean;
  /** A deadline for every call that sets none. */
  timeoutMs?: number;
  interceptors?: Interceptor[];
}

/** Adds the configured authorization header to calls that do not carry one. */
export function authorizationInterceptor(authorization: NonNullable<CommonTokenClientOptions["authorization"]>): Interceptor {
  return (next) => async (request) => {
    if (!request.header.has("authorization")) {
      request.header.set("authorization", typeof authorization === "string" ? authorization : await authorization());
    }
    return next(request);
  };
}

export function interceptorsOf(options: CommonTokenClientOptions): Interceptor[] {
  return [...(options.authorization === undefined ? [] : [authorizationInterceptor(options.authorization)]), ...(options.interceptors ?? [])];
}
