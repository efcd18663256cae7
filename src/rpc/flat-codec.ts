import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";

/**
 * JSON and binary codecs for the flat messages of the hot RPCs (strings,
 * bools, 32/64-bit integers, repeated strings, and bools of explicit presence
 * (`optional bool`); no oneofs, maps, enums, nested messages or other explicit
 * presence), compiled once per schema from its
 * descriptor.
 *
 * Why: protobuf-es (de)serializes through its reflection API, which
 * allocates per message (a reflect wrapper, Maps, iterators): ~3 µs and
 * ~1 KB per call here, a tenth of a no-op RPC's cost. These codecs give
 * exactly the same bytes and messages as protobuf-es (property-tested
 * against it) for what they accept, and answer `undefined` — "use
 * protobuf-es" — for anything else: an unexpected type, an unknown binary
 * field, text that is not clean UTF-8, a wire type out of the ordinary.
 * Errors therefore always come from protobuf-es, worded as before.
 */
export interface FlatCodec {
  /** `toJsonString(schema, create(schema, value))`, or undefined when the value is not plainly of the schema's types. */
  encodeJson(value: Record<string, unknown>): string | undefined;
  /**
   * `toBinary(schema, create(schema, value))`, or undefined as above; with
   * `reserve`, that many bytes come first, left for the caller to fill.
   */
  encodeBinary(value: Record<string, unknown>, reserve?: number): Uint8Array | undefined;
  /** `fromJsonString(schema, text, { ignoreUnknownFields: true })` for a parsed object, or undefined. */
  decodeJson(parsed: unknown): Record<string, unknown> | undefined;
  /** `fromBinary(schema, bytes)`, or undefined. */
  decodeBinary(bytes: Uint8Array): Record<string, unknown> | undefined;
}

/**
 * `absent`: a message field, handled here only while unset (IntrospectResponse.act): set, protobuf-es encodes it.
 * `optionalBool`: an `optional bool`, written whenever set, false included (IntrospectResponse.active).
 */
type Kind = "string" | "bool" | "optionalBool" | "int32" | "uint32" | "int64" | "uint64" | "strings" | "absent";

interface Field {
  kind: Kind;
  localName: string;
  number: number;
  /** `"jsonName":` ready to write. */
  jsonKey: string;
  /** Tag byte(s) for the binary encoding, in the field's wire type. */
  tag: Buffer;
  /** This field's bit in a mask of the fields a JSON object named. */
  bit: number;
}

/** Fields in a mask of one number (bitwise operators work on 32 bits). */
const MAX_FLAT_FIELDS = 31;

const SCALAR_KINDS = new Map<ScalarType, Kind>([
  [ScalarType.STRING, "string"],
  [ScalarType.BOOL, "bool"],
  [ScalarType.INT32, "int32"],
  [ScalarType.UINT32, "uint32"],
  [ScalarType.INT64, "int64"],
  [ScalarType.UINT64, "uint64"],
]);

const EXPLICIT_PRESENCE = 1; // FeatureSet_FieldPresence.EXPLICIT
const IMPLICIT_PRESENCE = 2; // FeatureSet_FieldPresence.IMPLICIT

function kindOf(field: DescField): Kind | undefined {
  if (field.oneof !== undefined) return undefined;
  if (field.fieldKind === "message") return field.message.typeName.startsWith("google.protobuf.") ? undefined : "absent";
  if (field.fieldKind === "list") return field.listKind === "scalar" && field.scalar === ScalarType.STRING ? "strings" : undefined;
  if (field.fieldKind === "scalar" && field.presence === EXPLICIT_PRESENCE && field.scalar === ScalarType.BOOL) return "optionalBool";
  if (field.fieldKind !== "scalar" || field.presence !== IMPLICIT_PRESENCE) return undefined;
  const kind = SCALAR_KINDS.get(field.scalar);
  // 64-bit fields declared with jstype = JS_STRING hold strings: leave them to protobuf-es.
  if ((kind === "int64" || kind === "uint64") && field.longAsString) return undefined;
  return kind;
}

const compiled = new WeakMap<DescMessage, FlatCodec | null>();

/** The compiled codec for a schema, or undefined when the schema is not flat. */
export function flatCodec(schema: DescMessage): FlatCodec | undefined {
  let codec = compiled.get(schema);
  if (codec === undefined) {
    codec = compile(schema);
    compiled.set(schema, codec);
  }
  return codec ?? undefined;
}

function compile(schema: DescMessage): FlatCodec | null {
  if (schema.typeName.startsWith("google.protobuf.")) return null; // well-known types have their own JSON
  const fields: Field[] = [];
  if (schema.fields.length > MAX_FLAT_FIELDS) return null;
  for (const field of [...schema.fields].sort((a, b) => a.number - b.number)) {
    const kind = kindOf(field);
    if (kind === undefined) return null;
    const wireType = kind === "string" || kind === "strings" || kind === "absent" ? 2 : 0;
    fields.push({ kind, localName: field.localName, number: field.number, jsonKey: `${JSON.stringify(field.jsonName)}:`, tag: varintBytes((field.number << 3) | wireType), bit: 1 << fields.length });
  }
  const byNumber = new Map(fields.map((field) => [field.number, field]));
  const byJsonName = new Map<string, Field>();
  for (const field of schema.fields) {
    const compiledField = byNumber.get(field.number)!;
    byJsonName.set(field.name, compiledField).set(field.jsonName, compiledField);
  }
  const typeName = schema.typeName;
  // Declaration order, as protobuf-es's create() lays a message out.
  const declared = schema.fields.map((field) => byNumber.get(field.number)!);
  const zero = (): Record<string, unknown> => {
    const message: Record<string, unknown> = { $typeName: typeName };
    // protobuf-es's create() leaves message fields and unset optional fields out.
    for (const field of declared) if (field.kind !== "absent" && field.kind !== "optionalBool") message[field.localName] = zeroOf(field.kind);
    return message;
  };
  return {
    encodeJson: (value) => encodeJson(fields, value),
    encodeBinary: (value, reserve = 0) => encodeBinary(fields, value, reserve),
    decodeJson: (parsed) => decodeJson(byJsonName, zero, parsed),
    decodeBinary: (bytes) => decodeBinary(byNumber, zero, bytes),
  };
}

function zeroOf(kind: Kind): unknown {
  switch (kind) {
    case "string":
      return "";
    case "bool":
      return false;
    case "int32":
    case "uint32":
      return 0;
    case "int64":
    case "uint64":
      return 0n;
    case "strings":
      return [];
    case "absent":
    case "optionalBool":
      return undefined;
  }
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** The value as protobuf-es would accept it, `null` for "the field's zero value, left out", undefined for "not plainly this type". */
function checked(kind: Kind, value: unknown): unknown {
  if (value === undefined) return null;
  switch (kind) {
    case "string":
      if (typeof value !== "string" || !value.isWellFormed()) return undefined;
      return value === "" ? null : value;
    case "bool":
      if (typeof value !== "boolean") return undefined;
      return value ? value : null;
    case "optionalBool":
      return typeof value === "boolean" ? value : undefined;
    case "int32":
      if (!Number.isInteger(value) || (value as number) < INT32_MIN || (value as number) > INT32_MAX) return undefined;
      return value === 0 ? null : value;
    case "uint32":
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > UINT32_MAX) return undefined;
      return value === 0 ? null : value;
    case "int64":
      if (typeof value !== "bigint" || value < INT64_MIN || value > INT64_MAX) return undefined;
      return value === 0n ? null : value;
    case "uint64":
      if (typeof value !== "bigint" || value < 0n || value > UINT64_MAX) return undefined;
      return value === 0n ? null : value;
    case "absent":
      return undefined; // set (unset returned null above): protobuf-es encodes it
    case "strings":
      if (!Array.isArray(value)) return undefined;
      for (const item of value) if (typeof item !== "string" || !item.isWellFormed()) return undefined;
      return value.length === 0 ? null : value;
  }
}

function encodeJson(fields: readonly Field[], value: Record<string, unknown>): string | undefined {
  let out = "{";
  for (const field of fields) {
    const v = checked(field.kind, value[field.localName]);
    if (v === undefined) return undefined;
    if (v === null) continue;
    if (out.length > 1) out += ",";
    out += field.jsonKey;
    switch (field.kind) {
      case "int64":
      case "uint64":
        out += `"${String(v)}"`;
        break;
      case "bool":
      case "optionalBool":
      case "int32":
      case "uint32":
        out += String(v);
        break;
      default:
        out += JSON.stringify(v);
    }
  }
  return `${out}}`;
}

/**
 * Two passes: check every field and add up the size, then write into one
 * buffer. Building a Buffer per string, a Buffer per length and a concat of
 * them all took Node's 8 KiB buffer pool three times per response (a new pool
 * every few IssueClientToken answers, ~1.4 µs per call in a profile).
 * `reserve` bytes are left at the start for the caller (the gRPC frame header).
 */
function encodeBinary(fields: readonly Field[], value: Record<string, unknown>, reserve: number): Uint8Array | undefined {
  const values: unknown[] = [];
  /** UTF-8 byte lengths of the string values, in the order both passes meet them. */
  const lengths: number[] = [];
  let size = reserve;
  for (const field of fields) {
    const v = checked(field.kind, value[field.localName]);
    if (v === undefined) return undefined;
    values.push(v);
    if (v === null) continue;
    switch (field.kind) {
      case "string":
        size += stringSize(field.tag, v as string, lengths);
        break;
      case "strings":
        for (const item of v as string[]) size += stringSize(field.tag, item, lengths);
        break;
      case "bool":
      case "optionalBool":
        size += field.tag.length + 1;
        break;
      default:
        size += field.tag.length + varintSize(v as number | bigint);
    }
  }
  const out = Buffer.allocUnsafe(size);
  let offset = reserve;
  let next = 0;
  fields.forEach((field, i) => {
    const v = values[i];
    if (v === null) return;
    switch (field.kind) {
      case "string":
        offset = writeString(out, offset, field.tag, v as string, lengths[next++]!);
        break;
      case "strings":
        for (const item of v as string[]) offset = writeString(out, offset, field.tag, item, lengths[next++]!);
        break;
      case "bool":
      case "optionalBool":
        offset += field.tag.copy(out, offset);
        out[offset++] = v === true ? 1 : 0;
        break;
      default:
        offset += field.tag.copy(out, offset);
        // Negative int32 and int64 are ten bytes of two's complement, as protobuf-es writes them.
        offset = writeVarint(out, offset, v as number | bigint);
    }
  });
  return out;
}

function stringSize(tag: Buffer, text: string, lengths: number[]): number {
  const length = Buffer.byteLength(text, "utf8");
  lengths.push(length);
  return tag.length + varintSize(length) + length;
}

function writeString(out: Buffer, offset: number, tag: Buffer, text: string, length: number): number {
  offset += tag.copy(out, offset);
  offset = writeVarint(out, offset, length);
  return offset + out.write(text, offset, length, "utf8");
}

function varintBytes(value: number): Buffer {
  const bytes = Buffer.alloc(varintSize(value));
  writeVarint(bytes, 0, value);
  return bytes;
}

/** Bytes of the varint of a value, as `writeVarint` writes it. */
function varintSize(value: number | bigint): number {
  if (typeof value === "number" && value >= 0 && value <= 0xffffffff) {
    let size = 1;
    for (let n = value; n > 0x7f; n >>>= 7) size++;
    return size;
  }
  let size = 1;
  for (let n = BigInt.asUintN(64, BigInt(value)); n > 0x7fn; n >>= 7n) size++;
  return size;
}

function writeVarint(out: Buffer, offset: number, value: number | bigint): number {
  if (typeof value === "number" && value >= 0 && value <= 0xffffffff) {
    // Lengths, tags and non-negative 32-bit values: plain arithmetic, no BigInt.
    let n = value;
    while (n > 0x7f) {
      out[offset++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[offset++] = n;
    return offset;
  }
  let n = BigInt.asUintN(64, BigInt(value));
  while (n > 0x7fn) {
    out[offset++] = Number(n & 0x7fn) | 0x80;
    n >>= 7n;
  }
  out[offset++] = Number(n);
  return offset;
}

function decodeJson(byJsonName: ReadonlyMap<string, Field>, zero: () => Record<string, unknown>, parsed: unknown): Record<string, unknown> | undefined {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
  const message = zero();
  let named = 0;
  for (const key of Object.keys(parsed)) {
    const field = byJsonName.get(key);
    if (field === undefined) continue; // ignoreUnknownFields
    // A field named twice (by its JSON and its proto name): protobuf-es decides
    // (2.17 refuses it, "set multiple times"; earlier versions merged).
    if ((named & field.bit) !== 0) return undefined;
    named |= field.bit;
    const value = (parsed as Record<string, unknown>)[key];
    // As protobuf-es reads JSON: null clears a scalar and leaves a list alone.
    if (value === null) {
      if (field.kind === "optionalBool") delete message[field.localName];
      else if (field.kind !== "strings") message[field.localName] = zeroOf(field.kind);
      continue;
    }
    // Only the shapes that need no conversion; numbers in strings and the like are protobuf-es's.
    if (field.kind !== "string" && field.kind !== "bool" && field.kind !== "optionalBool" && field.kind !== "strings") return undefined;
    if (checked(field.kind, value) === undefined) return undefined;
    if (field.kind === "strings") (message[field.localName] as string[]).push(...(value as string[]));
    else message[field.localName] = value;
  }
  return message;
}

function decodeBinary(byNumber: ReadonlyMap<number, Field>, zero: () => Record<string, unknown>, bytes: Uint8Array): Record<string, unknown> | undefined {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const message = zero();
  let pos = 0;
  const readVarint32 = (): number | undefined => {
    let result = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= buffer.length) return undefined;
      const byte = buffer[pos++]!;
      result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
    return undefined; // five or more bytes: protobuf-es decides
  };
  while (pos < buffer.length) {
    const tag = readVarint32();
    if (tag === undefined) return undefined;
    const field = byNumber.get(tag >>> 3);
    const wireType = tag & 7;
    if (field === undefined) return undefined; // unknown fields are kept by protobuf-es
    if (field.kind === "string" || field.kind === "strings") {
      if (wireType !== 2) return undefined;
      const length = readVarint32();
      if (length === undefined || pos + length > buffer.length) return undefined;
      const text = buffer.toString("utf8", pos, pos + length);
      pos += length;
      // Invalid UTF-8 (or a real U+FFFD), or a leading BOM (which protobuf-es's TextDecoder drops): protobuf-es decides.
      if (text.includes("\uFFFD") || text.charCodeAt(0) === 0xfeff) return undefined;
      if (field.kind === "string") message[field.localName] = text;
      else (message[field.localName] as string[]).push(text);
    } else if (field.kind === "bool" || field.kind === "optionalBool") {
      if (wireType !== 0 || pos >= buffer.length || buffer[pos]! > 1) return undefined;
      message[field.localName] = buffer[pos++] === 1;
    } else {
      return undefined; // integers in requests: protobuf-es
    }
  }
  return message;
}
