/**
 * Tokensmith's client for browsers: the same API as the Node entry, on
 * connect-web's fetch transports (Connect protocol or gRPC-Web; browsers
 * cannot speak gRPC itself). The page's origin must be in Tokensmith's
 * `cors.allowedOrigins`.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { interceptorsOf, type CommonTokenClientOptions, type TokenClient } from "./token-client.js";

export interface WebTokenClientOptions extends CommonTokenClientOptions {
  /** Default "connect". */
  protocol?: "connect" | "grpc-web";
  /** Connect protocol only: send side-effect-free calls (GetJwks) as cacheable GET requests. */
  useHttpGet?: boolean;
  /** Another fetch, e.g. one that sends cookies (`credentials: "include"`). */
  fetch?: typeof globalThis.fetch;
}

/** A typed TokenService client for browsers. */
export function createTokenClient(options: WebTokenClientOptions): TokenClient {
  const protocol = options.protocol ?? "connect";
  const common = {
    baseUrl: options.baseUrl,
    interceptors: interceptorsOf(options),
    ...(options.timeoutMs === undefined ? {} : { defaultTimeoutMs: options.timeoutMs }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  };
  switch (protocol) {
    case "grpc-web":
      return createClient(TokenService, createGrpcWebTransport({ ...common, useBinaryFormat: true }));
    case "connect":
      return createClient(
        TokenService,
        createConnectTransport({ ...common, useBinaryFormat: options.useBinaryFormat ?? false, useHttpGet: options.useHttpGet ?? false }),
      );
    default:
      throw new TypeError(`unknown protocol "${String(protocol)}" for browsers: use "connect" or "grpc-web"`);
  }
}

export * from "./exports.js";
