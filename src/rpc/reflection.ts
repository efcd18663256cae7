import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * gRPC server reflection (grpc/reflection/v1 and the older v1alpha, which
 * grpcurl and buf curl still try), answered from the protobuf-es descriptors
 * of whatever services are registered on the router, so a client needs no
 * local .proto. Follows grpc-go's server: a file is sent with its transitive
 * dependencies, and files already sent on the stream are not sent again.
 */

/** The request of either version, without its version-specific message types. */
export type ReflectionQuery =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** The services registered on a router, each once, in registration order. */
export function registeredServices(router: ConnectRouter): DescService[] {
  return [...new Set(router.handlers.map((handler) => handler.service))];
}

/** What reflection knows: the files of the served services and everything they import. */
export class ReflectionIndex {
  private readonly serviceNames: string[];
  private readonly filesByName = new Map<string, DescFile>();
  private readonly fileBySymbol = new Map<string, DescFile>();
  /** Extendee type name → extension number → the file declaring the extension. */
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly encoded = new Map<DescFile, Uint8Array>();

  constructor(services: readonly DescService[]) {
    this.serviceNames = [...new Set(services.map((service) => service.typeName))].sort();
    const pending = services.map((service) => service.file);
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (this.filesByName.has(file.proto.name)) continue;
      this.filesByName.set(file.proto.name, file);
      this.indexSymbols(file);
      pending.push(...file.dependencies);
    }
  }

  answer(query: ReflectionQuery, sentOnStream: Set<string>): ReflectionAnswer {
    switch (query.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: this.serviceNames.map((name) => ({ name })) } };
      case "fileByFilename":
        return this.files(this.filesByName.get(query.value), `file "${query.value}" not found`, sentOnStream);
      case "fileContainingSymbol":
        return this.files(this.fileBySymbol.get(query.value), `symbol "${query.value}" not found`, sentOnStream);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = query.value;
        const file = this.extensions.get(containingType)?.get(extensionNumber);
        return this.files(file, `extension ${extensionNumber} of "${containingType}" not found`, sentOnStream);
      }
      case "allExtensionNumbersOfType": {
        const target = this.fileBySymbol.get(query.value);
        const isMessage = target !== undefined && [...nestedTypes(target)].some((t) => t.kind === "message" && t.typeName === query.value);
        if (!isMessage) return notFound(`message type "${query.value}" not found`);
        const numbers = [...(this.extensions.get(query.value)?.keys() ?? [])].sort((a, b) => a - b);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: query.value, extensionNumber: numbers } };
      }
      default:
        return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "invalid message_request: set one of its fields" } };
    }
  }

  /** The file first, then its imports breadth-first; imports already sent on this stream are skipped. */
  private files(file: DescFile | undefined, missing: string, sentOnStream: Set<string>): ReflectionAnswer {
    if (file === undefined) return notFound(missing);
    const out: Uint8Array[] = [];
    const queued = new Set<DescFile>([file]);
    const queue = [file];
    for (let current = queue.shift(); current !== undefined; current = queue.shift()) {
      if (out.length === 0 || !sentOnStream.has(current.proto.name)) {
        sentOnStream.add(current.proto.name);
        out.push(this.encode(current));
      }
      for (const dependency of current.dependencies) {
        if (queued.has(dependency)) continue;
        queued.add(dependency);
        queue.push(dependency);
      }
    }
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  }

  private encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.encoded.set(file, bytes);
    }
    return bytes;
  }

  /** Every name a client may ask about: types, services, methods, fields, oneofs, enum values, extensions. */
  private indexSymbols(file: DescFile): void {
    const add = (name: string) => {
      if (!this.fileBySymbol.has(name)) this.fileBySymbol.set(name, file);
    };
    for (const type of nestedTypes(file)) {
      add(type.typeName);
      switch (type.kind) {
        case "message":
          for (const field of type.fields) add(`${type.typeName}.${field.name}`);
          for (const oneof of type.oneofs) add(`${type.typeName}.${oneof.name}`);
          break;
        case "enum": {
          // Enum values are scoped as siblings of their enum (C++ scoping rules).
          const scope = type.typeName.slice(0, Math.max(0, type.typeName.lastIndexOf(".")));
          for (const value of type.values) add(scope === "" ? value.name : `${scope}.${value.name}`);
          break;
        }
        case "service":
          for (const method of type.methods) add(`${type.typeName}.${method.name}`);
          break;
        case "extension": {
          let byNumber = this.extensions.get(type.extendee.typeName);
          if (byNumber === undefined) this.extensions.set(type.extendee.typeName, (byNumber = new Map()));
          if (!byNumber.has(type.number)) byNumber.set(type.number, file);
          break;
        }
      }
    }
  }
}

function notFound(message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

/** One stream of either version: each request is answered in order, with the stream's memory of sent files. */
async function* respond<R extends { host: string; messageRequest: ReflectionQuery }>(requests: AsyncIterable<R>, index: () => ReflectionIndex) {
  const sentOnStream = new Set<string>();
  for await (const request of requests) {
    yield { validHost: request.host, originalRequest: request, messageResponse: index().answer(request.messageRequest, sentOnStream) };
  }
}

/**
 * Registers grpc.reflection.v1 and v1alpha on the router. The index is built
 * on the first request, from every service the router serves by then
 * (reflection and health included), so where in routes() this call sits does
 * not matter.
 */
export function registerReflection(router: ConnectRouter): void {
  let index: ReflectionIndex | undefined;
  const lazyIndex = () => (index ??= new ReflectionIndex(registeredServices(router)));
  router.service(ServerReflectionV1, { serverReflectionInfo: (requests) => respond(requests, lazyIndex) });
  router.service(ServerReflectionV1Alpha, { serverReflectionInfo: (requests) => respond(requests, lazyIndex) });
}
