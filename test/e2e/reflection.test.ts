import { createFileRegistry, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { ReflectionQuery } from "../../src/rpc/reflection.js";
import type { RunningServer } from "../../src/server.js";
import { startTestServer } from "../support/tokensmith.js";
import { startClockServer, type ClockServer } from "./support/clock-service.js";
import { REQUIRED_SERVICES, servedServices } from "./support/served-services.js";

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) on the wire: what
 * grpcurl and buf curl ask, and what they need in the answers.
 */

/** A request of either version (they differ only in their package name). */
type Request = { host?: string; messageRequest?: ReflectionQuery };
type Response = v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse;

/** Sends the requests on one stream and collects the answers. */
const versions = {
  "grpc.reflection.v1": (baseUrl: string) => {
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl }));
    return (requests: Request[]) =>
      collect(client.serverReflectionInfo(iterate(requests as MessageInitShape<typeof v1.ServerReflectionRequestSchema>[])));
  },
  "grpc.reflection.v1alpha": (baseUrl: string) => {
    const client = createClient(v1alpha.ServerReflection, createGrpcTransport({ baseUrl }));
    return (requests: Request[]) =>
      collect(client.serverReflectionInfo(iterate(requests as MessageInitShape<typeof v1alpha.ServerReflectionRequestSchema>[])));
  },
};

async function* iterate<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

async function collect(responses: AsyncIterable<Response>): Promise<Response[]> {
  const all: Response[] = [];
  for await (const response of responses) all.push(response);
  return all;
}

function filesOf(response: Response | undefined): FileDescriptorProto[] {
  if (response?.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected files, got ${JSON.stringify(response?.messageResponse)}`);
  }
  return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

const names = (response: Response | undefined) => filesOf(response).map((file) => file.name);

function errorOf(response: Response | undefined): { errorCode: number; errorMessage: string } {
  if (response?.messageResponse.case !== "errorResponse") throw new Error(`expected an error, got ${response?.messageResponse.case}`);
  return response.messageResponse.value;
}

let tokensmith: RunningServer;
let clocks: ClockServer;

beforeAll(async () => {
  tokensmith = await startTestServer();
  clocks = await startClockServer();
});

afterAll(async () => {
  await tokensmith?.close();
  await clocks?.close();
});

describe.each(Object.keys(versions) as (keyof typeof versions)[])("%s on Tokensmith", (version) => {
  const ask = (requests: Request[]) => versions[version](tokensmith.url)(requests);

  it("list_services: every service routes() registers, reflection and health included", async () => {
    const [response] = await ask([{ messageRequest: { case: "listServices", value: "*" } }]);
    if (response?.messageResponse.case !== "listServicesResponse") throw new Error(`expected services, got ${response?.messageResponse.case}`);
    const listed = response.messageResponse.value.service.map((service) => service.name);
    expect(listed).toEqual(servedServices(tokensmith.domain));
    expect(listed).toEqual(expect.arrayContaining(REQUIRED_SERVICES));
  });

  it("for every listed service, the files sent build a complete schema (every import included)", async () => {
    for (const service of servedServices(tokensmith.domain)) {
      const [response] = await ask([{ messageRequest: { case: "fileContainingSymbol", value: service } }]);
      const [file, ...imports] = filesOf(response);
      // createFileRegistry throws when an imported file cannot be resolved.
      const registry = createFileRegistry(file!, (name) => imports.find((candidate) => candidate.name === name));
      expect(registry.getService(service)?.typeName, service).toBe(service);
    }
  });

  it("file_containing_symbol of TokenService: its file, with every method and message", async () => {
    const [response] = await ask([{ messageRequest: { case: "fileContainingSymbol", value: "tokensmith.v1.TokenService" } }]);
    const [file] = filesOf(response);
    expect(file?.name).toBe("tokensmith/v1/token_service.proto");
    expect(file?.package).toBe("tokensmith.v1");
    expect(file?.service.map((service) => service.name)).toEqual(["TokenService"]);
    expect(file?.service[0]?.method.map((method) => method.name)).toEqual([
      "IssueClientToken",
      "IssueGrant",
      "IssueExternalAuthGrant",
      "Introspect",
      "ExchangeToken",
      "Revoke",
      "GetJwks",
      "WatchRevocations",
    ]);
    expect(file?.messageType.map((message) => message.name)).toContain("OAuthErrorDetail");
  });

  // token_service.proto imports google/protobuf/timestamp.proto (WatchRevocations' heartbeat), sent along with it.
  const TOKEN_SERVICE_FILES = ["tokensmith/v1/token_service.proto", "google/protobuf/timestamp.proto"];
  it.each([
    ["a method", "tokensmith.v1.TokenService.Introspect", TOKEN_SERVICE_FILES],
    ["a message", "tokensmith.v1.IntrospectRequest", TOKEN_SERVICE_FILES],
    ["a field", "tokensmith.v1.IntrospectRequest.consume", TOKEN_SERVICE_FILES],
    ["a nested enum", "grpc.health.v1.HealthCheckResponse.ServingStatus", ["grpc/health/v1/health.proto"]],
    ["an enum value", "grpc.health.v1.HealthCheckResponse.SERVING", ["grpc/health/v1/health.proto"]],
    ["the health service", "grpc.health.v1.Health", ["grpc/health/v1/health.proto"]],
    ["reflection itself", "grpc.reflection.v1alpha.ServerReflection", ["grpc/reflection/v1alpha/reflection.proto"]],
  ])("file_containing_symbol of %s (%s)", async (_kind, symbol, files) => {
    const [response] = await ask([{ messageRequest: { case: "fileContainingSymbol", value: symbol } }]);
    expect(names(response)).toEqual(files);
  });

  it("file_by_filename", async () => {
    const [response] = await ask([{ messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } }]);
    expect(names(response)).toEqual(["grpc/health/v1/health.proto"]);
  });

  it("an unknown symbol or file: NOT_FOUND in an error_response, and the stream goes on answering", async () => {
    const responses = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "acme.v1.Nothing" } },
      { messageRequest: { case: "fileByFilename", value: "acme/v1/nothing.proto" } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "tokensmith.v1.Jwk", extensionNumber: 100 } } },
      { messageRequest: { case: "fileContainingSymbol", value: "tokensmith.v1.Jwk" } },
    ]);
    expect(responses.slice(0, 3).map((response) => errorOf(response).errorCode)).toEqual([Code.NotFound, Code.NotFound, Code.NotFound]);
    expect(errorOf(responses[0]).errorMessage).toBe('symbol "acme.v1.Nothing" not found');
    expect(names(responses[3])).toEqual(TOKEN_SERVICE_FILES);
  });

  it("all_extension_numbers_of_type: none for a Tokensmith message; NOT_FOUND for an unknown type", async () => {
    const [known, unknown] = await ask([
      { messageRequest: { case: "allExtensionNumbersOfType", value: "tokensmith.v1.Jwk" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "acme.v1.Nothing" } },
    ]);
    expect(known?.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({ baseTypeName: "tokensmith.v1.Jwk", extensionNumber: [] }),
    });
    expect(errorOf(unknown).errorCode).toBe(Code.NotFound);
  });

  it("a request without a question: INVALID_ARGUMENT", async () => {
    const [response] = await ask([{ host: "" }]);
    expect(errorOf(response).errorCode).toBe(Code.InvalidArgument);
  });

  it("echoes the original request and the host", async () => {
    const [response] = await ask([{ host: "tokensmith.test", messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } }]);
    expect(response?.validHost).toBe("tokensmith.test");
    expect(response?.originalRequest?.messageRequest).toEqual({ case: "fileByFilename", value: "grpc/health/v1/health.proto" });
  });
});

describe.each(Object.keys(versions) as (keyof typeof versions)[])("%s on a service whose schema spans files", (version) => {
  const ask = (requests: Request[]) => versions[version](clocks.url)(requests);

  it("sends the file with its transitive imports, breadth first", async () => {
    const [response] = await ask([{ messageRequest: { case: "fileContainingSymbol", value: "acme.clock.v1.ClockService" } }]);
    expect(names(response)).toEqual([
      "acme/clock/v1/clock_service.proto",
      "acme/clock/v1/types.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/timestamp.proto",
    ]);
  });

  it("does not send an import again on the same stream, but always the file asked for", async () => {
    const [first, second, third] = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "acme.clock.v1.Moment" } },
      { messageRequest: { case: "fileContainingSymbol", value: "acme.clock.v1.ClockService.Add" } },
      { messageRequest: { case: "fileByFilename", value: "google/protobuf/timestamp.proto" } },
    ]);
    expect(names(first)).toEqual(["acme/clock/v1/types.proto", "google/protobuf/timestamp.proto"]);
    expect(names(second)).toEqual(["acme/clock/v1/clock_service.proto", "google/protobuf/duration.proto"]);
    expect(names(third)).toEqual(["google/protobuf/timestamp.proto"]);
  });

  it("resolves symbols of imported files", async () => {
    const [response] = await ask([{ messageRequest: { case: "fileContainingSymbol", value: "google.protobuf.Timestamp" } }]);
    expect(names(response)).toEqual(["google/protobuf/timestamp.proto"]);
  });

  it("lists only the services registered", async () => {
    const [response] = await ask([{ messageRequest: { case: "listServices", value: "" } }]);
    const listed = response?.messageResponse.case === "listServicesResponse" ? response.messageResponse.value.service.map((s) => s.name) : [];
    expect(listed).toEqual(["acme.clock.v1.ClockService", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);
  });
});
