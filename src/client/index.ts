/**
 * Tokensmith's client for Node: typed TokenService clients over Connect, gRPC
 * or gRPC-Web, and a cached client-credentials token source. Browsers use
 * `tokensmith/web` (the bundler's "browser" condition picks it for "tokensmith").
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, type Http2SessionManager } from "@connectrpc/connect-node";
import type { ClientSessionOptions, SecureClientSessionOptions } from "node:http2";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { interceptorsOf, type CommonTokenClientOptions, type TokenClient } from "./token-client.js";

export interface TokenClientOptions extends CommonTokenClientOptions {
  /** Default "connect". Connect and gRPC-Web also work over HTTP/1.1; gRPC needs HTTP/2. */
  protocol?: "connect" | "grpc" | "grpc-web";
  /** Default "2" (h2c in cleartext: Tokensmith serves both on one port). gRPC always uses "2". */
  httpVersion?: "1.1" | "2";
  /** TLS options for HTTP/2, e.g. `{ ca }` for a private CA. */
  nodeOptions?: ClientSessionOptions | SecureClientSessionOptions;
  /** Share HTTP/2 connections between clients. */
  sessionManager?: Http2SessionManager;
}

/** A typed TokenService client for Node. */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  const protocol = options.protocol ?? "connect";
  const common = {
    baseUrl: options.baseUrl,
    interceptors: interceptorsOf(options),
    ...(options.timeoutMs === undefined ? {} : { defaultTimeoutMs: options.timeoutMs }),
  };
  const http2 = {
    httpVersion: "2" as const,
    ...(options.nodeOptions === undefined ? {} : { nodeOptions: options.nodeOptions }),
    ...(options.sessionManager === undefined ? {} : { sessionManager: options.sessionManager }),
  };
  const version = options.httpVersion === "1.1" ? { httpVersion: "1.1" as const } : http2;
  switch (protocol) {
    case "grpc":
      if (options.httpVersion === "1.1") throw new TypeError("the gRPC protocol needs HTTP/2; use connect or grpc-web over HTTP/1.1");
      return createClient(TokenService, createGrpcTransport({ ...common, ...http2 }));
    case "grpc-web":
      return createClient(TokenService, createGrpcWebTransport({ ...common, ...version }));
    case "connect":
      return createClient(TokenService, createConnectTransport({ ...common, ...version, useBinaryFormat: options.useBinaryFormat ?? false }));
    default:
      throw new TypeError(`unknown protocol "${String(protocol)}": use "connect", "grpc" or "grpc-web"`);
  }
}

export * from "./exports.js";
