import { create, createFileRegistry, fromBinary, fromJsonString, ScalarType, toBinary, toJsonString, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { file_tokensmith_v1_admin_service } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { file_tokensmith_v1_diagnostics_service } from "../../gen/tokensmith/v1/diagnostics_service_pb.js";
import {
  file_tokensmith_v1_token_service,
  GetJwksResponseSchema,
  IntrospectRequestSchema,
  IntrospectResponseSchema,
  IssueClientTokenResponseSchema,
} from "../../gen/tokensmith/v1/token_service_pb.js";
import { PingRequestSchema, PingResponseSchema } from "../../gen/tokensmith/v1/diagnostics_service_pb.js";
import { flatCodec } from "../../src/rpc/flat-codec.js";

const ALL_SCHEMAS: DescMessage[] = [file_tokensmith_v1_token_service, file_tokensmith_v1_diagnostics_service, file_tokensmith_v1_admin_service].flatMap(
  (file) => file.messages,
);
/**
 * A schema with what ours happen not to have: fields declared out of number
 * order, and a two-word list field (so a JSON object can name it twice).
 */
const SHUFFLED = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "synthetic.proto",
    package: "synthetic",
    syntax: "proto3",
    messageType: [
      {
        name: "Shuffled",
        field: [
          { name: "late_name", number: 9, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: "lateName" },
          { name: "allowed_scopes", number: 2, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.REPEATED, jsonName: "allowedScopes" },
          { name: "count", number: 5, type: FieldDescriptorProto_Type.INT64, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: "count" },
          { name: "on", number: 1, type: FieldDescriptorProto_Type.BOOL, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: "on" },
        ],
      },
    ],
  }),
  () => undefined,
).getMessage("synthetic.Shuffled")!;
const FLAT = [SHUFFLED, ...ALL_SCHEMAS].filter((schema) => flatCodec(schema) !== undefined);

/** Any string of whole code points (well-formed UTF-16), including quotes, controls, emoji and U+FFFD. */
const text = fc.oneof(fc.string({ unit: "binary", maxLength: 24 }), fc.constantFrom("", "\"\\/\n\t\u0000", "é😀\u2028", "\uFFFD", "\uFEFFbom"));

function valueOf(field: DescField): fc.Arbitrary<unknown> {
  if (field.fieldKind === "list") return fc.array(text, { maxLength: 4 });
  // A message field (IntrospectResponse.act) is the codec's only while unset: set ones are tested apart.
  if (field.fieldKind === "message") return fc.constant(undefined);
  if (field.fieldKind !== "scalar") throw new Error(`not flat: ${field.name}`);
  switch (field.scalar) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.INT32:
      return fc.oneof(fc.constantFrom(0, -1, 1, -(2 ** 31), 2 ** 31 - 1), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    case ScalarType.UINT32:
      return fc.oneof(fc.constantFrom(0, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
    case ScalarType.INT64:
      return fc.oneof(fc.constantFrom(0n, -1n, -(2n ** 63n), 2n ** 63n - 1n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    case ScalarType.UINT64:
      return fc.oneof(fc.constantFrom(0n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
    default:
      throw new Error(`not flat: ${field.name}`);
  }
}

/** Init shapes for a schema: any subset of its fields, each with a value of its type. */
function initOf(schema: DescMessage): fc.Arbitrary<Record<string, unknown>> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of schema.fields) shape[field.localName] = valueOf(field);
  return fc.record(shape, { requiredKeys: [] });
}

/** A field's value as JSON carries it: 64-bit integers as ProtoJSON writes them (strings), or as numbers. */
function jsonValueOf(field: DescField): fc.Arbitrary<unknown> {
  return fc.tuple(valueOf(field), fc.boolean()).map(([value, asNumber]) => (typeof value === "bigint" ? (asNumber ? Number(value) : String(value)) : value));
}

/**
 * JSON objects a client might send: mostly the schema's fields under either
 * name with values of their type (so a field can be named twice), and
 * strangers, nulls, lone surrogates and values of any JSON type.
 */
function jsonObjectFor(schema: DescMessage): fc.Arbitrary<Record<string, unknown>> {
  const stranger = fc.tuple(fc.oneof(fc.string({ maxLength: 6 }), fc.constant("__proto__")), fc.jsonValue({ maxDepth: 2 }));
  const entries: Array<fc.WeightedArbitrary<[string, unknown]>> = [{ arbitrary: stranger, weight: 1 }];
  if (schema.fields.length > 0) {
    const field = fc.constantFrom(...schema.fields);
    const name = (f: DescField) => fc.constantFrom(f.jsonName, f.name);
    const odd = fc.oneof(fc.constant(null), fc.constant(null), fc.jsonValue({ maxDepth: 2 }), fc.constantFrom("\uD800", "a\uDC00", ["ok", "\uDBFF"]));
    entries.push(
      { arbitrary: field.chain((f) => fc.tuple(name(f), jsonValueOf(f))), weight: 8 },
      { arbitrary: field.chain((f) => fc.tuple(name(f), odd)), weight: 2 },
    );
  }
  return fc.array(fc.oneof(...entries), { maxLength: 6 }).map((pairs) => {
    const object: Record<string, unknown> = {};
    for (const [name, value] of pairs) Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
    return object;
  });
}

function reference<T>(run: () => T): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: run() };
  } catch {
    return { ok: false };
  }
}

// Thousands of property runs: seconds alone, more on a machine busy with the rest of the suite.
describe("flat codec: the same bytes and messages as protobuf-es", { timeout: 90_000 }, () => {
  it("compiles the hot RPCs' messages and refuses schemas that are not flat", () => {
    for (const schema of [IntrospectRequestSchema, IntrospectResponseSchema, IssueClientTokenResponseSchema, PingRequestSchema, PingResponseSchema]) {
      expect(flatCodec(schema), schema.typeName).toBeDefined();
    }
    expect(flatCodec(GetJwksResponseSchema)).toBeUndefined(); // a list of messages
    for (const schema of ALL_SCHEMAS) {
      const flat = schema.fields.every(
        (field) =>
          field.oneof === undefined &&
          ((field.fieldKind === "list" && field.listKind === "scalar" && field.scalar === ScalarType.STRING) ||
            (field.fieldKind === "message" && !field.message.typeName.startsWith("google.protobuf.")) ||
            (field.fieldKind === "scalar" &&
              [ScalarType.STRING, ScalarType.BOOL, ScalarType.INT32, ScalarType.UINT32, ScalarType.INT64, ScalarType.UINT64].includes(field.scalar) &&
              (!field.proto.proto3Optional || field.scalar === ScalarType.BOOL))),
      );
      expect(flatCodec(schema) !== undefined, schema.typeName).toBe(flat);
    }
    expect(FLAT.length).toBeGreaterThan(15);
  });

  it("encodes JSON exactly as toJsonString(create(...)) does", () => {
    for (const schema of FLAT) {
      const codec = flatCodec(schema)!;
      fc.assert(
        fc.property(initOf(schema), (init) => {
          expect(codec.encodeJson(init)).toBe(toJsonString(schema, create(schema, init as never)));
          // A message made by protobuf-es encodes the same as its init shape.
          expect(codec.encodeJson(create(schema, init as never) as never)).toBe(toJsonString(schema, create(schema, init as never)));
        }),
        { numRuns: 150 },
      );
    }
  });

  it("encodes binary exactly as toBinary(create(...)) does", () => {
    for (const schema of FLAT) {
      const codec = flatCodec(schema)!;
      fc.assert(
        fc.property(initOf(schema), (init) => {
          const expected = Buffer.from(toBinary(schema, create(schema, init as never)));
          expect(Buffer.from(codec.encodeBinary(init)!)).toEqual(expected);
          // With room reserved in front (the gRPC frame header): the same bytes after it, nothing after them.
          const framed = codec.encodeBinary(init, 5)!;
          expect(framed.byteLength).toBe(5 + expected.length);
          expect(Buffer.from(framed.subarray(5))).toEqual(expected);
        }),
        { numRuns: 150 },
      );
    }
  });

  it("leaves a set message field (IntrospectResponse.act) to protobuf-es: declines to encode or decode it, and handles it unset", () => {
    const codec = flatCodec(IntrospectResponseSchema)!;
    const withAct = { active: true, sub: "s", act: { sub: "svc", clientId: "svc" } };
    expect(codec.encodeJson(withAct)).toBeUndefined();
    expect(codec.encodeBinary(withAct)).toBeUndefined();
    const bytes = toBinary(IntrospectResponseSchema, create(IntrospectResponseSchema, withAct as never));
    expect(codec.decodeBinary(bytes)).toBeUndefined();
    expect(codec.decodeJson({ active: true, act: { sub: "svc" } })).toBeUndefined();
    const without = { active: true, sub: "s" };
    expect(codec.encodeJson(without)).toBe(toJsonString(IntrospectResponseSchema, create(IntrospectResponseSchema, without)));
  });

  it("declines to encode what is not plainly of the schema's types, so protobuf-es answers (and throws) instead", () => {
    const codec = flatCodec(IntrospectResponseSchema)!;
    for (const bad of [{ exp: 5 }, { exp: "5" }, { active: 1 }, { scopes: "a" }, { scopes: [1] }, { sub: null }, { sub: "\uD800" }, { exp: 2n ** 63n }]) {
      expect(codec.encodeJson(bad), JSON.stringify(bad, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))).toBeUndefined();
      expect(codec.encodeBinary(bad)).toBeUndefined();
    }
  });

  it("decodes JSON exactly as fromJsonString does, whenever it decodes at all", () => {
    let decoded = 0;
    let declined = 0;
    for (const schema of FLAT) {
      const codec = flatCodec(schema)!;
      fc.assert(
        fc.property(jsonObjectFor(schema), (object) => {
          const json = JSON.stringify(object);
          const fast = codec.decodeJson(JSON.parse(json));
          const ref = reference(() => fromJsonString(schema, json, { ignoreUnknownFields: true }));
          if (fast === undefined) {
            declined++;
            return;
          }
          decoded++;
          expect(ref.ok, json).toBe(true);
          if (ref.ok) expect(fast).toEqual(ref.value);
        }),
        { numRuns: 200 },
      );
    }
    // Both branches really ran: the property is not vacuous.
    expect(decoded).toBeGreaterThan(500);
    expect(declined).toBeGreaterThan(100);
  });

  it("decodes binary exactly as fromBinary does, whenever it decodes at all (valid, truncated and mutated bytes)", () => {
    let decoded = 0;
    for (const schema of FLAT) {
      const codec = flatCodec(schema)!;
      const bytes = fc.tuple(initOf(schema), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat()).map(([init, edits, cut]) => {
        const encoded = Buffer.from(toBinary(schema, create(schema, init as never)));
        for (const [at, byte] of edits) if (encoded.length > 0) encoded[at % encoded.length] = byte;
        return edits.length > 0 && cut % 3 === 0 ? encoded.subarray(0, cut % (encoded.length + 1)) : encoded;
      });
      fc.assert(
        fc.property(bytes, (input) => {
          const fast = codec.decodeBinary(input);
          const ref = reference(() => fromBinary(schema, input));
          if (fast === undefined) return;
          decoded++;
          expect(ref.ok, input.toString("hex")).toBe(true);
          if (ref.ok) expect(fast).toEqual(ref.value);
        }),
        { numRuns: 200 },
      );
    }
    expect(decoded).toBeGreaterThan(500);
  });

  it("reads nulls as protobuf-es does, and leaves a field named twice (JSON and proto name) to protobuf-es", () => {
    const codec = flatCodec(SHUFFLED)!;
    for (const json of ['{"allowed_scopes":null,"lateName":"x"}', '{"late_name":"x","on":null}', '{"lateName":null,"allowedScopes":["a"],"on":true}']) {
      const fast = codec.decodeJson(JSON.parse(json));
      expect(fast, json).toBeDefined();
      expect(fast).toEqual(fromJsonString(SHUFFLED, json, { ignoreUnknownFields: true }));
    }
    for (const json of [
      '{"allowed_scopes":["a"],"allowedScopes":null}',
      '{"allowed_scopes":["a"],"allowedScopes":["b","c"]}',
      '{"late_name":"x","lateName":null,"on":true}',
      '{"lateName":"x","late_name":"y","on":null}',
    ]) {
      expect(codec.decodeJson(JSON.parse(json)), json).toBeUndefined();
    }
  });

  it("leaves to protobuf-es: invalid UTF-8, a leading BOM, unknown fields, wrong wire types, JSON that is not an object", () => {
    const codec = flatCodec(IntrospectRequestSchema)!;
    const field1 = (payload: number[]) => Uint8Array.from([0x0a, payload.length, ...payload]);
    expect(codec.decodeBinary(field1([0x61, 0x62]))).toEqual(fromBinary(IntrospectRequestSchema, field1([0x61, 0x62])));
    expect(codec.decodeBinary(field1([0xc3, 0x28]))).toBeUndefined(); // invalid UTF-8
    expect(codec.decodeBinary(field1([0xef, 0xbb, 0xbf, 0x61]))).toBeUndefined(); // BOM
    expect(codec.decodeBinary(Uint8Array.from([0x62, 0x01, 0x61]))).toBeUndefined(); // field 12, unknown
    expect(codec.decodeBinary(Uint8Array.from([0x08, 0x01]))).toBeUndefined(); // field 1 as a varint
    expect(codec.decodeBinary(Uint8Array.from([0x18, 0x02]))).toBeUndefined(); // bool 2
    for (const parsed of [null, [], "x", 5, undefined]) expect(codec.decodeJson(parsed)).toBeUndefined();
    expect(codec.decodeJson({ token: "\uD800" })).toBeUndefined();
    expect(codec.decodeJson({ consume: "true" })).toBeUndefined();
  });
});
