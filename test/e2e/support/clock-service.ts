import { create, createFileRegistry, type DescMessage, type DescMethodUnary, type DescService } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  file_google_protobuf_duration,
  file_google_protobuf_timestamp,
  timestampDate,
  timestampFromMs,
  type Duration,
  type Timestamp,
} from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { registerReflection } from "../../../src/rpc/reflection.js";

/**
 * A service whose schema spans files: clock_service.proto imports types.proto
 * and google/protobuf/duration.proto, and types.proto imports
 * google/protobuf/timestamp.proto. Tokensmith's own protos import nothing, so
 * this is what shows that reflection sends the transitive dependencies that
 * grpcurl and buf curl need to use a service.
 */

const message = (name: string, fields: [name: string, number: number, typeName: string][]) => ({
  name,
  field: fields.map(([fieldName, number, typeName]) => ({
    name: fieldName,
    jsonName: fieldName,
    number,
    label: FieldDescriptorProto_Label.OPTIONAL,
    type: FieldDescriptorProto_Type.MESSAGE,
    typeName,
  })),
});

const types = create(FileDescriptorProtoSchema, {
  name: "acme/clock/v1/types.proto",
  package: "acme.clock.v1",
  syntax: "proto3",
  dependency: ["google/protobuf/timestamp.proto"],
  messageType: [message("Moment", [["at", 1, ".google.protobuf.Timestamp"]])],
});

const clockService = create(FileDescriptorProtoSchema, {
  name: "acme/clock/v1/clock_service.proto",
  package: "acme.clock.v1",
  syntax: "proto3",
  dependency: ["acme/clock/v1/types.proto", "google/protobuf/duration.proto"],
  messageType: [
    message("AddRequest", [
      ["from", 1, ".acme.clock.v1.Moment"],
      ["plus", 2, ".google.protobuf.Duration"],
    ]),
  ],
  service: [{ name: "ClockService", method: [{ name: "Add", inputType: ".acme.clock.v1.AddRequest", outputType: ".acme.clock.v1.Moment" }] }],
});

const registry = createFileRegistry(
  create(FileDescriptorSetSchema, { file: [file_google_protobuf_timestamp.proto, file_google_protobuf_duration.proto, types, clockService] }),
);

export const ClockService: DescService = registry.getService("acme.clock.v1.ClockService")!;
const Moment: DescMessage = registry.getMessage("acme.clock.v1.Moment")!;

/** Registers ClockService.Add: a moment plus a duration. */
export function registerClockService(router: ConnectRouter): void {
  router.rpc(ClockService.method.add as DescMethodUnary<DescMessage, DescMessage>, (input) => {
    const request = input as unknown as { from?: { at?: Timestamp }; plus?: Duration };
    const from = request.from?.at ? timestampDate(request.from.at).getTime() : 0;
    const plus = request.plus ? Number(request.plus.seconds) * 1000 + Math.round(request.plus.nanos / 1e6) : 0;
    return create(Moment, { at: timestampFromMs(from + plus) });
  });
}

export interface ClockServer {
  url: string;
  close(): Promise<void>;
}

/** ClockService and reflection (nothing else) on a bare h2c Connect server. */
export async function startClockServer(): Promise<ClockServer> {
  const server = createServer(
    connectNodeAdapter({
      routes: (router) => {
        registerClockService(router);
        registerReflection(router);
      },
    }),
  );
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Clients keep idle HTTP/2 sessions open; close() alone would wait for them.
        for (const session of sessions) session.destroy();
      }),
  };
}
