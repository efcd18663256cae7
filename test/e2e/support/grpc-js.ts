import { BinaryReader } from "@bufbuild/protobuf/wire";
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { OAuthErrorDetailSchema, type OAuthErrorDetail } from "../../../gen/tokensmith/v1/token_service_pb.js";

/**
 * grpc-js with @grpc/proto-loader: a client that shares no code with
 * Tokensmith, built from the .proto files at run time, as a Node service
 * written against the published protos would be.
 */

const protoRoot = new URL("../../../proto/", import.meta.url).pathname;

type Callback = (error: grpc.ServiceError | null, response: Record<string, unknown>) => void;
type UnaryMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback) => grpc.ClientUnaryCall;
type ServerStreamingMethod = (request: object, metadata?: grpc.Metadata) => grpc.ClientReadableStream<unknown>;
/** A client made by grpc-js from a loaded service definition: methods by their proto names. */
export type GrpcJsClient = grpc.Client & Record<string, unknown>;

function serviceConstructor(file: string, path: string[]): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(file, {
    includeDirs: [protoRoot],
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of path) node = (node as Record<string, unknown>)[part];
  return node as grpc.ServiceClientConstructor;
}

/** `host:port` of a Tokensmith URL, as grpc-js wants it. */
export const grpcTarget = (url: string) => new URL(url).host;

export function tokenServiceClient(url: string): GrpcJsClient {
  const TokenService = serviceConstructor("tokensmith/v1/token_service.proto", ["tokensmith", "v1", "TokenService"]);
  return new TokenService(grpcTarget(url), grpc.credentials.createInsecure()) as unknown as GrpcJsClient;
}

export function healthClient(url: string): GrpcJsClient {
  const Health = serviceConstructor("grpc/health/v1/health.proto", ["grpc", "health", "v1", "Health"]);
  return new Health(grpcTarget(url), grpc.credentials.createInsecure()) as unknown as GrpcJsClient;
}

/** A unary call with `authorization` metadata, as a promise. */
export function unary(
  client: GrpcJsClient,
  method: string,
  request: object,
  authorization?: string,
): Promise<Record<string, unknown>> {
  const metadata = new grpc.Metadata();
  if (authorization !== undefined) metadata.set("authorization", authorization);
  return new Promise((resolve, reject) => {
    const call = client[method] as UnaryMethod | undefined;
    if (call === undefined) throw new Error(`no method ${method}`);
    call.call(client, request, metadata, { deadline: Date.now() + 10_000 }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/** A server-streaming call. */
export function serverStream<T>(client: GrpcJsClient, method: string, request: object): grpc.ClientReadableStream<T> {
  const call = client[method] as ServerStreamingMethod | undefined;
  if (call === undefined) throw new Error(`no method ${method}`);
  return call.call(client, request, new grpc.Metadata()) as grpc.ClientReadableStream<T>;
}

export async function grpcError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/**
 * The OAuthErrorDetails in `grpc-status-details-bin` (a google.rpc.Status:
 * code = 1, message = 2, repeated google.protobuf.Any details = 3), decoded
 * by hand: grpc-js leaves rich error details to the application.
 */
export function oauthDetailsOf(error: grpc.ServiceError): OAuthErrorDetail[] {
  const found: OAuthErrorDetail[] = [];
  for (const value of error.metadata.get("grpc-status-details-bin")) {
    const status = new BinaryReader(new Uint8Array(value instanceof Buffer ? value : Buffer.from(value)));
    while (status.pos < status.len) {
      const [field, wireType] = status.tag();
      if (field !== 3) {
        status.skip(wireType);
        continue;
      }
      const any = new BinaryReader(status.bytes());
      let typeUrl = "";
      let payload: Uint8Array = new Uint8Array();
      while (any.pos < any.len) {
        const [anyField, anyWireType] = any.tag();
        if (anyField === 1) typeUrl = any.string();
        else if (anyField === 2) payload = any.bytes();
        else any.skip(anyWireType);
      }
      if (typeUrl.endsWith("/tokensmith.v1.OAuthErrorDetail")) found.push(fromBinary(OAuthErrorDetailSchema, payload));
    }
  }
  return found;
}
