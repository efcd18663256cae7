import { create, fromBinary, fromJsonString, isMessage, toBinary, toJsonString, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext, type MethodImplSpec, type ServiceImplSpec } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { NodeRequest, NodeResponse } from "../edge/node-http.js";
import { readRequestBody } from "../edge/request-body.js";
import { flatCodec } from "./flat-codec.js";

/** A unary method and its implementation. */
type Route = Extract<MethodImplSpec, { kind: "unary" }>;

export interface FastPathOptions {
  /** The services as connect wraps them (served-service.ts): every unary method of each is served here. */
  services: ServiceImplSpec[];
  readMaxBytes: number;
  contextValues: (req: NodeRequest) => ContextValues;
  /** Runs the call through the edge (observedCall): the same error mapping, logs and metrics as connect-node's interceptors. */
  around: (method: DescMethod, req: NodeRequest, call: () => Promise<unknown>) => Promise<unknown>;
}

const JSON_TYPE = "application/json";
const GRPC_TYPE = "application/grpc";
const GRPC_PROTO_TYPE = "application/grpc+proto";
const PROTO_TYPE = "application/proto";

/**
 * Unary calls of the Connect protocol (POST, JSON or binary) and of gRPC
 * (HTTP/2), uncompressed and without a deadline header, served directly;
 * everything else — gRPC-Web, streaming, GET, compression, deadlines — goes
 * to connect-node.
 *
 * Why: measured. bench:ab on Node 24.22.3 with connect-node 2.3.0, this path
 * on (A) against `rpcFastPath: false` (B, every call through connect-node),
 * CPU per call B/A, median of 6 rounds: IssueClientToken 2.14x (Connect
 * JSON), 3.39x (gRPC), 1.77x (Connect binary); Introspect 2.50x; Ping over
 * gRPC 5.29x (the first measurement, on Node 20: ~400 µs per no-op call).
 * A CPU profile of connect-node's path: garbage collection a quarter of the
 * busy time, the async-iterable pipeline that carries one message each way,
 * a DOMException built when each call's linked AbortController is aborted at
 * its end, Node-to-Fetch header conversion. The Connect unary protocol is
 * simple enough to answer with the same service implementations, the same
 * messages (protobuf-es, or the flat codecs that give identical bytes for the
 * hot RPCs' messages) and connect's own error serialization.
 *
 * What would let us delete it: a unary handler flow in connect-node without
 * that machinery, as connect-go did in connectrpc/connect-go#609 (every
 * connect-es call goes through the async-iterable transforms of
 * connectrpc/connect-es#422; we found no connect-es issue asking for a unary
 * flow, one is to be filed). Re-measure with bench:ab and `rpcFastPath: false`
 * on every connect-es upgrade; under 15 % more CPU per call, delete this
 * module and flat-codec.ts.
 */
export function connectUnaryFastPath(options: FastPathOptions): (req: NodeRequest, res: NodeResponse) => boolean {
  const routes = new Map<string, Route>();
  for (const { methods } of options.services) {
    for (const spec of Object.values(methods)) {
      if (spec.kind === "unary") routes.set(`/${spec.method.parent.typeName}/${spec.method.name}`, spec);
    }
  }

  return (req, res) => {
    if (req.method !== "POST") return false;
    const route = routes.get(req.url ?? "");
    if (route === undefined) return false;
    const headers = req.headers;
    const contentType = headers["content-type"];
    if (contentType === GRPC_TYPE || contentType === GRPC_PROTO_TYPE) {
      // gRPC needs HTTP/2; a compressed message or a deadline goes to connect-node.
      if (req.httpVersion !== "2.0" || headers["grpc-timeout"]) return false;
      const encoding = headers["grpc-encoding"];
      if (encoding !== undefined && encoding !== "identity") return false;
      serveGrpc(route, req, res, options).catch((error: unknown) => {
        if (!res.headersSent) writeGrpcError(res, ConnectError.from(error));
        else res.destroy();
      });
      return true;
    }
    const json = contentType === JSON_TYPE || contentType === "application/json; charset=utf-8";
    if (!json && contentType !== PROTO_TYPE) return false;
    if (headers["content-encoding"] || headers["connect-content-encoding"] || headers["connect-timeout-ms"]) return false;
    const version = headers["connect-protocol-version"];
    if (version !== undefined && version !== "1") return false;
    serve(route, json, req, res, options).catch((error: unknown) => {
      if (!res.headersSent) writeError(res, ConnectError.from(error));
      else res.destroy();
    });
    return true;
  };
}

/**
 * gRPC unary over HTTP/2: one length-prefixed, uncompressed message in; the
 * response message, then trailers with grpc-status; an error is a
 * trailers-only response, written by connect's own setTrailerStatus.
 */
async function serveGrpc(route: Route, req: NodeRequest, res: NodeResponse, options: FastPathOptions): Promise<void> {
  const { method } = route;
  const tooLarge = () => new ConnectError(`message is larger than configured readMaxBytes ${options.readMaxBytes}`, Code.ResourceExhausted);
  let input: unknown;
  try {
    const frame = await readRequestBody(req, options.readMaxBytes + 5, tooLarge);
    if (frame.length < 5 || frame[0] !== 0 || frame.readUInt32BE(1) !== frame.length - 5) {
      throw new ConnectError("expected exactly one uncompressed, length-prefixed message", Code.InvalidArgument);
    }
    input = fromBinary(method.input, frame.subarray(5));
  } catch (error) {
    writeGrpcError(res, ConnectError.from(error, Code.InvalidArgument));
    return;
  }
  const context = new FastHandlerContext(req, method, options.contextValues(req), "grpc");
  let response: unknown;
  try {
    response = await options.around(method, req, async () => route.impl(input as never, context as unknown as HandlerContext));
  } catch (error) {
    writeGrpcError(res, ConnectError.from(error));
    return;
  }
  const frame = grpcFrame(method.output, response);
  const responseHeaders: Record<string, string> = { "content-type": GRPC_PROTO_TYPE };
  const trailers: Record<string, string> = { "grpc-status": "0" };
  if (context.touchedHeaders()) {
    context.responseHeader.forEach((value, key) => (responseHeaders[key] = value));
    context.responseTrailer.forEach((value, key) => (trailers[key] = value));
  }
  res.writeHead(200, responseHeaders);
  (res as { addTrailers(headers: Record<string, string>): void }).addTrailers(trailers);
  res.end(frame);
}

function writeGrpcError(res: NodeResponse, error: ConnectError): void {
  const headers: Record<string, string> = { "content-type": GRPC_PROTO_TYPE };
  error.metadata.forEach((value, key) => (headers[key] = value));
  setTrailerStatus(new Headers(), error).forEach((value, key) => (headers[key] = value));
  res.writeHead(200, headers);
  res.end();
}

async function serve(route: Route, json: boolean, req: NodeRequest, res: NodeResponse, options: FastPathOptions): Promise<void> {
  const { method } = route;
  let body: Buffer;
  try {
    body = await readRequestBody(req, options.readMaxBytes, () => new ConnectError(`message is larger than configured readMaxBytes ${options.readMaxBytes}`, Code.ResourceExhausted));
  } catch (error) {
    writeError(res, ConnectError.from(error));
    return;
  }
  let input: unknown;
  try {
    // Decoded before the interceptor-equivalent, as connect-node does.
    input = decode(method.input, body, json);
  } catch (error) {
    writeError(res, ConnectError.from(error));
    return;
  }
  const context = new FastHandlerContext(req, method, options.contextValues(req), "connect");
  let response: unknown;
  try {
    response = await options.around(method, req, async () => route.impl(input as never, context as unknown as HandlerContext));
  } catch (error) {
    const touched = context.touchedHeaders();
    writeError(res, ConnectError.from(error), touched ? context.responseHeader : undefined);
    return;
  }
  const payload = json ? encodeJsonText(method.output, response) : encodeBinaryMessage(method.output, response);
  const length = typeof payload === "string" ? Buffer.byteLength(payload, "utf8") : payload.byteLength;
  const responseHeaders: Record<string, string | number> = { "content-type": json ? JSON_TYPE : PROTO_TYPE, "content-length": length };
  if (context.touchedHeaders()) {
    context.responseHeader.forEach((value, key) => (responseHeaders[key] = value));
    context.responseTrailer.forEach((value, key) => (responseHeaders[`trailer-${key}`] = value));
  }
  res.writeHead(200, responseHeaders);
  res.end(payload);
}

function decode(schema: DescMessage, body: Buffer, json: boolean) {
  try {
    const codec = flatCodec(schema);
    if (!json) return codec?.decodeBinary(body) ?? fromBinary(schema, body);
    const text = body.toString("utf8");
    const decoded = codec === undefined ? undefined : codec.decodeJson(parseOrUndefined(text));
    // Anything the flat codec does not take plainly — including every error — is protobuf-es's.
    return decoded ?? fromJsonString(schema, text, { ignoreUnknownFields: true });
  } catch (error) {
    throw new ConnectError(`cannot decode request: ${(error as Error).message}`, Code.InvalidArgument);
  }
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A handler's answer as one gRPC length-prefixed message (uncompressed), encoded after the room left for its 5-byte header. */
function grpcFrame(schema: DescMessage, response: unknown): Uint8Array {
  const frame = encodeBinaryMessage(schema, response, 5);
  const length = frame.byteLength - 5;
  frame[0] = 0;
  frame[1] = length >>> 24;
  frame[2] = (length >>> 16) & 0xff;
  frame[3] = (length >>> 8) & 0xff;
  frame[4] = length & 0xff;
  return frame;
}

/** The flat codec of a handler's answer, when the answer is an object (a message or its init shape). */
const codecFor = (schema: DescMessage, response: unknown) =>
  typeof response === "object" && response !== null ? flatCodec(schema) : undefined;

const messageOf = (schema: DescMessage, response: unknown) => (isMessage(response, schema) ? response : create(schema, response as never));

/** A handler's answer as JSON text, through the flat codec when it can; the response writes the string as it is. */
function encodeJsonText(schema: DescMessage, response: unknown): string {
  return codecFor(schema, response)?.encodeJson(response as Record<string, unknown>) ?? toJsonString(schema, messageOf(schema, response));
}

/** A handler's answer in binary after `reserve` bytes left for the caller, through the flat codec when it can. */
function encodeBinaryMessage(schema: DescMessage, response: unknown, reserve = 0): Uint8Array {
  const fast = codecFor(schema, response)?.encodeBinary(response as Record<string, unknown>, reserve);
  if (fast !== undefined) return fast;
  const payload = toBinary(schema, messageOf(schema, response));
  if (reserve === 0) return payload;
  const out = new Uint8Array(reserve + payload.byteLength);
  out.set(payload, reserve);
  return out;
}

/**
 * Only what the handlers read: request headers, context values; the rest for completeness.
 *
 * A class, not an object literal: a literal with getters is created by the
 * runtime in dictionary mode (~0.7 µs each, and slow lookups after), which
 * measured ~30 µs of CPU per call under load and twice the p99 latency of
 * the same call with this class (bench: introspect-jwt-connect-json-h1).
 */
export class FastHandlerContext {
  readonly service: DescService;
  readonly requestMethod = "POST";
  readonly url: string;
  readonly requestHeader: RequestHeaderView;
  // Created only when a handler asks: most calls never touch them.
  private controller: AbortController | undefined = undefined;
  private createdResponseHeader: Headers | undefined = undefined;
  private createdResponseTrailer: Headers | undefined = undefined;

  constructor(
    private readonly req: NodeRequest,
    readonly method: DescMethod,
    readonly values: ContextValues,
    readonly protocolName: string,
  ) {
    this.service = method.parent;
    this.url = req.url ?? "";
    this.requestHeader = new RequestHeaderView(req);
  }

  get peer(): { addr: string } {
    return { addr: this.req.socket?.remoteAddress ?? "" };
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const created = new AbortController();
      this.controller = created;
      const req = this.req;
      req.once("close", () => {
        if (!(req as { complete?: boolean }).complete) created.abort(new ConnectError("the client closed the request", Code.Canceled));
      });
    }
    return this.controller.signal;
  }

  timeoutMs(): undefined {
    return undefined;
  }

  get responseHeader(): Headers {
    return (this.createdResponseHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.createdResponseTrailer ??= new Headers());
  }

  /** Whether the handler set response headers or trailers (without creating them). */
  touchedHeaders(): boolean {
    return this.createdResponseHeader !== undefined || this.createdResponseTrailer !== undefined;
  }
}

/** The request headers as the part of `Headers` that handlers use, read from the Node request without copying. */
class RequestHeaderView {
  constructor(private readonly req: NodeRequest) {}

  get(name: string): string | null {
    const value = this.req.headers[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
  }

  has(name: string): boolean {
    return this.req.headers[name.toLowerCase()] !== undefined;
  }
}

function writeError(res: NodeResponse, error: ConnectError, extraHeaders?: Headers): void {
  const payload = errorToJsonBytes(error, {});
  const headers: Record<string, string | number> = { "content-type": JSON_TYPE, "content-length": payload.byteLength };
  extraHeaders?.forEach((value, key) => (headers[key] = value));
  error.metadata.forEach((value, key) => (headers[key] = value));
  res.writeHead(codeToHttpStatus(error.code), headers);
  res.end(payload);
}
