import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { GRANT_TYPES } from "../domain/client.js";
import { parseBasicAuthorization } from "../domain/basic-credentials.js";
import type { NodeRequest, NodeResponse } from "../edge/node-http.js";
import { pathOf } from "../http/http-routes.js";
import { markFailed } from "./child-span.js";

/** What a server span learns while its request is served. */
interface Served {
  /** The RPC protocol, for RPCs: which status attribute the final code goes in. */
  rpcSystem?: "connect_rpc" | "grpc" | "grpc_web";
  /** The client id a token request named: recorded only once the token is issued, when it is known to be a client's id (an API key is sent as a Basic username too). */
  clientId?: string;
}

const KNOWN_GRANT_TYPES = new Set<string>(GRANT_TYPES);
const MAX_CLIENT_ID_LENGTH = 256;


function rpcSystemOf(req: NodeRequest): NonNullable<Served["rpcSystem"]> {
  const contentType = String(req.headers["content-type"] ?? "");
  if (contentType.startsWith("application/grpc-web")) return "grpc_web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect_rpc";
}

/**
 * Server spans for the API: one per RPC (`tokensmith.v1.TokenService/IssueClientToken`)
 * and per OAuth endpoint or discovery document (`POST /oauth2/token`), a child
 * of the caller's W3C traceparent when it sent one. Built only when tracing is
 * on; the edge then calls its hooks (`edge.tracing?.…`), which is all a call
 * pays when it is off. Attributes are names, codes and ids, never what a
 * request carried: no header, secret, assertion, token or error message.
 */
export class RequestTracing {
  private readonly served = new WeakMap<Span, Served>();

  constructor(
    private readonly tracer: Tracer,
    /** `/<service>/<method>` of every RPC that gets a span. */
    private readonly rpcPaths: ReadonlySet<string>,
    /** Whether a request is for an OAuth endpoint or a discovery document. */
    private readonly isHttpRoute: (req: NodeRequest) => boolean,
  ) {}

  /**
   * Runs `serve` in the request's server span, or bare for a request that is not an API call (an unknown path).
   * `tenant` is the id of the tenant serving it (a stand-in's for one that does not exist, never what the caller named).
   */
  serve(req: NodeRequest, res: NodeResponse, tenant: string, serve: () => void): void {
    const path = pathOf(req);
    let name: string;
    let attributes: Attributes;
    const served: Served = {};
    if (this.rpcPaths.has(path)) {
      const slash = path.indexOf("/", 1);
      served.rpcSystem = rpcSystemOf(req);
      name = path.slice(1);
      attributes = { "rpc.system": served.rpcSystem, "rpc.service": path.slice(1, slash), "rpc.method": path.slice(slash + 1) };
    } else if (this.isHttpRoute(req)) {
      const method = req.method ?? "GET";
      name = `${method} ${path}`;
      attributes = { "http.request.method": method, "url.path": path };
    } else {
      serve();
      return;
    }
    attributes["tokensmith.tenant"] = tenant;
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    this.served.set(span, served);
    res.once("close", () => {
      span.setAttribute("http.response.status_code", res.statusCode);
      if (served.clientId !== undefined && res.statusCode === 200) span.setAttribute("oauth.client_id", served.clientId);
      span.end();
    });
    context.with(trace.setSpan(parent, span), serve);
  }

  /** An RPC finished with `error` (undefined: it succeeded), as the caller is told. */
  rpcFinished(error: unknown): void {
    const span = trace.getActiveSpan();
    const system = span === undefined ? undefined : this.served.get(span)?.rpcSystem;
    if (span === undefined || system === undefined) return;
    const code = error === undefined ? undefined : error instanceof ConnectError ? error.code : Code.Unknown;
    if (system !== "connect_rpc") span.setAttribute("rpc.grpc.status_code", code ?? 0);
    if (code === undefined) return;
    const name = codeToString(code);
    if (system === "connect_rpc") span.setAttribute("rpc.connect_rpc.error_code", name);
    markFailed(span, name);
  }

  /** What an OAuth request's form says that may be recorded: a known grant_type, and the client id to record if a token is issued. */
  oauthRequest(path: string, form: { get(name: string): string | undefined }, req: NodeRequest): void {
    const span = trace.getActiveSpan();
    const served = span === undefined ? undefined : this.served.get(span);
    if (span === undefined || served === undefined) return;
    const grantType = form.get("grant_type");
    if (grantType !== undefined && KNOWN_GRANT_TYPES.has(grantType)) span.setAttribute("oauth.grant_type", grantType);
    if (path !== "/oauth2/token") return;
    let clientId = form.get("client_id");
    if (clientId === undefined) {
      try {
        clientId = parseBasicAuthorization(req.headers.authorization)?.username;
      } catch {
        // A malformed header fails the request itself; nothing to record.
      }
    }
    if (clientId !== undefined && clientId.length <= MAX_CLIENT_ID_LENGTH) served.clientId = clientId;
  }

  /** An OAuth request failed with `error` (an RFC 6749 §5.2 code such as invalid_client). */
  oauthFailed(error: string): void {
    const span = trace.getActiveSpan();
    if (span !== undefined && this.served.has(span)) markFailed(span, error);
  }
}
