/**
 * The benchmark scenarios: what each sends, over which protocol and tool,
 * and how one request of it is verified before (and after) the load.
 *
 * Verification matters most for h2load: it only sees HTTP statuses, and a
 * failed gRPC call is still HTTP 200 (the error is in the grpc-status
 * trailer). So each scenario replays the exact bytes the load generator will
 * send and checks the decoded response, and RPC scenarios also make the same
 * call through a real @connectrpc/connect-node client.
 */
import http from "node:http";
import http2 from "node:http2";
import { create, fromBinary, toBinary, toJson, type DescMessage, type DescMethodUnary, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { DiagnosticsService } from "../../gen/tokensmith/v1/diagnostics_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { basicAuthorization } from "../../src/client/basic-authorization.js";
import { BENCH_CLIENT_ID, EXCHANGE_CLIENT_ID, GRANT_SCOPE, TOKEN_EXCHANGE_GRANT, type BenchSecrets } from "./server.js";
import type { RequestSpec } from "./tools.js";

/** A protocol family; each has a floor (Ping) measured in the same run. */
export type Family = "connect-json-h1" | "grpc-h2" | "connect-proto-h2" | "oauth-h1";

export const FAMILY_LABEL: Record<Family, string> = {
  "connect-json-h1": "Connect JSON over HTTP/1.1",
  "grpc-h2": "gRPC over HTTP/2 (h2c)",
  "connect-proto-h2": "Connect binary over HTTP/2 (h2c)",
  "oauth-h1": "OAuth 2.0 HTTP endpoints (form body, HTTP/1.1)",
};

/** The floor each family is compared with. The OAuth endpoints have no Ping: their ratio to the JSON floor is for context. */
export const FLOOR_OF: Record<Family, { floor: string; context: boolean }> = {
  "connect-json-h1": { floor: "ping-connect-json-h1", context: false },
  "grpc-h2": { floor: "ping-grpc-h2", context: false },
  "connect-proto-h2": { floor: "ping-connect-proto-h2", context: false },
  "oauth-h1": { floor: "ping-connect-json-h1", context: true },
};

export interface BenchContext {
  baseUrl: string;
  secrets: BenchSecrets;
  /** An access token issued before the run, introspected by the introspect-jwt scenarios. */
  introspectJwt(): Promise<string>;
  /** bench-client's token (scope bench:read), the subject token of the oauth-token-exchange scenario. */
  subjectJwt(): Promise<string>;
  /** Another one, revoked over and over by the revoke scenario. */
  revokeJwt(): Promise<string>;
  /** A fresh grant from the 300 s API key (issued right before the scenario runs). */
  issueLongGrant(): Promise<string>;
}

export interface PreparedScenario {
  requests: RequestSpec[];
  /** Sends one request the way the load generator will (and, for RPCs, one through a real client); throws with the reason when it is not a success. */
  verify(): Promise<void>;
}

export interface Scenario {
  name: string;
  family: Family;
  tool: "wrk" | "h2load";
  isFloor: boolean;
  measures: string;
  prepare(ctx: BenchContext): Promise<PreparedScenario>;
}

// --- raw HTTP exchanges -----------------------------------------------------------

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function exchangeH1(baseUrl: string, spec: RequestSpec): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}${spec.path}`,
      { method: spec.method, headers: { ...spec.headers, "content-length": String(spec.body.length) }, agent: false, timeout: 10_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, trailers: response.trailers, body: Buffer.concat(chunks) }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
    request.end(spec.body);
  });
}

function exchangeH2(baseUrl: string, spec: RequestSpec): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    const fail = (error: Error) => {
      session.destroy();
      reject(error);
    };
    session.on("error", fail);
    session.setTimeout(10_000, () => fail(new Error("timed out")));
    const stream = session.request({ ":method": spec.method, ":path": spec.path, ...spec.headers });
    let headers: Record<string, string | string[] | undefined> = {};
    let trailers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (received) => (headers = received));
    stream.on("trailers", (received) => (trailers = received));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", fail);
    stream.on("end", () => {
      session.close();
      resolve({ status: Number(headers[":status"] ?? 0), headers, trailers, body: Buffer.concat(chunks) });
    });
    stream.end(spec.body);
  });
}

function describe(response: RawResponse): string {
  const body = response.body.toString("utf8").replace(/[^\x20-\x7e]/g, ".").slice(0, 300);
  return `HTTP ${response.status}, content-type ${String(response.headers["content-type"])}, body: ${body}`;
}

// --- RPC scenarios ----------------------------------------------------------------------

export type Expect = (json: Record<string, JsonValue>) => string | undefined;

function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

function transportFor(family: Family, baseUrl: string): Transport {
  switch (family) {
    case "grpc-h2":
      return createGrpcTransport({ baseUrl });
    case "connect-proto-h2":
      return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true });
    default:
      return createConnectTransport({ baseUrl, httpVersion: "1.1" });
  }
}

/** Decodes the raw response of one RPC into its proto-JSON form, or throws with what went wrong. */
function decodeRpcResponse<O extends DescMessage>(family: Family, output: O, response: RawResponse): Record<string, JsonValue> {
  if (response.status !== 200) throw new Error(`not a success: ${describe(response)}`);
  if (family === "connect-json-h1") return JSON.parse(response.body.toString("utf8")) as Record<string, JsonValue>;
  if (family === "connect-proto-h2") {
    if (response.headers["content-type"] !== "application/proto") throw new Error(`not a Connect binary success: ${describe(response)}`);
    return toJson(output, fromBinary(output, response.body)) as Record<string, JsonValue>;
  }
  // gRPC: the status is in the trailers (or in the headers of a trailers-only response).
  const grpcStatus = response.trailers["grpc-status"] ?? response.headers["grpc-status"];
  if (grpcStatus !== "0") {
    const message = response.trailers["grpc-message"] ?? response.headers["grpc-message"];
    throw new Error(`grpc-status ${String(grpcStatus)} (${decodeURIComponent(String(message ?? ""))}) behind HTTP ${response.status}`);
  }
  if (response.body.length < 5) throw new Error(`gRPC response without a message: ${describe(response)}`);
  const length = response.body.readUInt32BE(1);
  return toJson(output, fromBinary(output, response.body.subarray(5, 5 + length))) as Record<string, JsonValue>;
}

function rpcScenario<I extends DescMessage, O extends DescMessage>(options: {
  name: string;
  family: Exclude<Family, "oauth-h1">;
  method: DescMethodUnary<I, O>;
  isFloor?: boolean;
  measures: string;
  request: (ctx: BenchContext) => Promise<{ init: MessageInitShape<I>; authorization?: string }>;
  expect: Expect;
}): Scenario {
  const { family, method } = options;
  return {
    name: options.name,
    family,
    tool: family === "connect-json-h1" ? "wrk" : "h2load",
    isFloor: options.isFloor ?? false,
    measures: options.measures,
    async prepare(ctx) {
      const { init, authorization } = await options.request(ctx);
      const message = create(method.input, init);
      const auth: Record<string, string> = authorization === undefined ? {} : { authorization };
      const path = `/${method.parent.typeName}/${method.name}`;
      let spec: RequestSpec;
      if (family === "connect-json-h1") {
        spec = {
          method: "POST",
          path,
          headers: { "content-type": "application/json", "connect-protocol-version": "1", ...auth },
          body: Buffer.from(JSON.stringify(toJson(method.input, message))),
        };
      } else if (family === "grpc-h2") {
        spec = { method: "POST", path, headers: { "content-type": "application/grpc", te: "trailers", ...auth }, body: grpcFrame(toBinary(method.input, message)) };
      } else {
        spec = {
          method: "POST",
          path,
          headers: { "content-type": "application/proto", "connect-protocol-version": "1", ...auth },
          body: Buffer.from(toBinary(method.input, message)),
        };
      }
      const check = (what: string, json: Record<string, JsonValue>) => {
        const problem = options.expect(json);
        if (problem !== undefined) throw new Error(`${what}: ${problem}; response ${JSON.stringify(json).slice(0, 300)}`);
      };
      return {
        requests: [spec],
        async verify() {
          const raw = family === "connect-json-h1" ? await exchangeH1(ctx.baseUrl, spec) : await exchangeH2(ctx.baseUrl, spec);
          check("the load generator's exact request", decodeRpcResponse(family, method.output, raw));
          // What createClient(...).method(...) does: the transport's unary call.
          const typed = await transportFor(family, ctx.baseUrl).unary(method, undefined, 10_000, auth, init);
          check("the same call through @connectrpc/connect-node", toJson(method.output, typed.message) as Record<string, JsonValue>);
        },
      };
    },
  };
}

// --- OAuth endpoint scenarios ---------------------------------------------------------

/** One request to an OAuth endpoint: a form POST with an Authorization header. */
export interface OAuthRequest {
  path: string;
  form: Record<string, string>;
  authorization: string;
}

/** How many of a scenario's requests verification replays at most, spread evenly over them. */
const VERIFIED_AT_MOST = 64;

/** Up to `count` items of `items`, evenly spaced, the first and the last included. */
export function spreadSample<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, index) => items[Math.round((index * (items.length - 1)) / (count - 1))] as T);
}

/**
 * A scenario of an OAuth endpoint. `request` gives one request, or several
 * that the load generator sends in rotation (wrk's request()); verification
 * replays up to 64 of them, spread over the list.
 */
export function oauthScenario(options: {
  name: string;
  measures: string;
  request: (ctx: BenchContext) => Promise<OAuthRequest | OAuthRequest[]>;
  expect: Expect;
}): Scenario {
  return {
    name: options.name,
    family: "oauth-h1",
    tool: "wrk",
    isFloor: false,
    measures: options.measures,
    async prepare(ctx) {
      const asked = await options.request(ctx);
      const requests: RequestSpec[] = (Array.isArray(asked) ? asked : [asked]).map(({ path, form, authorization }) => ({
        method: "POST",
        path,
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", authorization },
        body: Buffer.from(new URLSearchParams(form).toString()),
      }));
      return {
        requests,
        async verify() {
          for (const spec of spreadSample(requests, VERIFIED_AT_MOST)) {
            const raw = await exchangeH1(ctx.baseUrl, spec);
            if (raw.status !== 200) throw new Error(`${spec.path}: not a success: ${describe(raw)}`);
            const json = JSON.parse(raw.body.toString("utf8")) as Record<string, JsonValue>;
            const problem = options.expect(json);
            if (problem !== undefined) throw new Error(`${spec.path}: ${problem}: ${describe(raw)}`);
          }
        },
      };
    },
  };
}

// --- the list ------------------------------------------------------------------------------

/**
 * Every issuing scenario asks for one scope, as a client that knows what it
 * needs does. (It also keeps the binary request non-empty: h2load cannot send
 * an empty body file.)
 */
export const ISSUE_SCOPE = "bench:read";
const clientAuthorization = (ctx: BenchContext) => basicAuthorization(BENCH_CLIENT_ID, ctx.secrets.clientSecret);
const exchangerAuthorization = (ctx: BenchContext) => basicAuthorization(EXCHANGE_CLIENT_ID, ctx.secrets.clientSecret);
const apiKeyAuthorization = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

const expectPing: Expect = (json) => (json.payload === "bench" ? undefined : "Ping did not echo the payload");
const expectAccessToken: Expect = (json) =>
  typeof json.accessToken === "string" && json.accessToken.length > 0 && json.tokenType === "Bearer" ? undefined : "no access token";
const expectGrant: Expect = (json) => (typeof json.token === "string" && json.token.length > 0 ? undefined : "no grant token");
const expectActive =
  (tokenType: string): Expect =>
  (json) =>
    json.active === true && json.tokenType === "Bearer" && json.tokenUse === tokenType ? undefined : `the ${tokenType} is not active`;
const expectEmpty: Expect = () => undefined;
export const expectOAuthToken: Expect = (json) => (typeof json.access_token === "string" && json.token_type === "Bearer" ? undefined : "no access_token");
export const expectOAuthActive: Expect = (json) => (json.active === true ? undefined : "the token is not active");

const ping = (family: Exclude<Family, "oauth-h1">, name: string): Scenario =>
  rpcScenario({
    name,
    family,
    method: DiagnosticsService.method.ping,
    isFloor: true,
    measures: `the floor for ${FAMILY_LABEL[family]}: DiagnosticsService.Ping, no authentication, no store`,
    request: async () => ({ init: { payload: "bench" } }),
    expect: expectPing,
  });

const issueClientToken = (family: Exclude<Family, "oauth-h1">, name: string): Scenario =>
  rpcScenario({
    name,
    family,
    method: TokenService.method.issueClientToken,
    measures: `IssueClientToken (scope bench:read) over ${FAMILY_LABEL[family]}: Basic client authentication + an EdDSA-signed JWT`,
    request: async (ctx) => ({ init: { scopes: [ISSUE_SCOPE] }, authorization: clientAuthorization(ctx) }),
    expect: expectAccessToken,
  });

export const SCENARIOS: Scenario[] = [
  ping("connect-json-h1", "ping-connect-json-h1"),
  ping("grpc-h2", "ping-grpc-h2"),
  ping("connect-proto-h2", "ping-connect-proto-h2"),
  oauthScenario({
    name: "oauth-token",
    measures: "POST /oauth2/token, client_credentials with Basic (scope bench:read): what an OAuth library does",
    request: async (ctx) => ({ path: "/oauth2/token", form: { grant_type: "client_credentials", scope: ISSUE_SCOPE }, authorization: clientAuthorization(ctx) }),
    expect: expectOAuthToken,
  }),
  oauthScenario({
    name: "oauth-token-exchange",
    measures:
      "POST /oauth2/token, token exchange (RFC 8693) with Basic: bench-exchanger trades bench-client's token issued before the run (scope bench:read) for one acting for it; the subject's signature and revocation check + an EdDSA-signed JWT",
    request: async (ctx) => ({
      path: "/oauth2/token",
      form: {
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: await ctx.subjectJwt(),
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        scope: ISSUE_SCOPE,
      },
      authorization: exchangerAuthorization(ctx),
    }),
    expect: (json) => expectOAuthToken(json) ?? (json.issued_token_type === "urn:ietf:params:oauth:token-type:access_token" ? undefined : "no issued_token_type"),
  }),
  issueClientToken("connect-json-h1", "issue-client-token-connect-json-h1"),
  issueClientToken("grpc-h2", "issue-client-token-grpc-h2"),
  issueClientToken("connect-proto-h2", "issue-client-token-connect-proto-h2"),
  rpcScenario({
    name: "issue-grant-connect-json-h1",
    family: "connect-json-h1",
    method: TokenService.method.issueGrant,
    measures: "IssueGrant with an API key (30 s grants): API key lookup + a SET with TTL in Redis per grant",
    request: async (ctx) => ({ init: { username: "bench-user", grants: [GRANT_SCOPE] }, authorization: apiKeyAuthorization(ctx.secrets.apiKey) }),
    expect: expectGrant,
  }),
  rpcScenario({
    name: "introspect-jwt-connect-json-h1",
    family: "connect-json-h1",
    method: TokenService.method.introspect,
    measures: "Introspect of a JWT issued before the run: client authentication, signature check, revocation GET in Redis",
    request: async (ctx) => ({ init: { token: await ctx.introspectJwt() }, authorization: clientAuthorization(ctx) }),
    expect: expectActive("access_token"),
  }),
  oauthScenario({
    name: "introspect-jwt-oauth-h1",
    measures: "POST /oauth2/introspect (RFC 7662) of the same JWT: the OAuth facade's cost on top of the domain",
    request: async (ctx) => ({ path: "/oauth2/introspect", form: { token: await ctx.introspectJwt() }, authorization: clientAuthorization(ctx) }),
    expect: expectOAuthActive,
  }),
  rpcScenario({
    name: "introspect-grant-connect-json-h1",
    family: "connect-json-h1",
    method: TokenService.method.introspect,
    measures: "Introspect of a grant (300 s API key, consume=false): client authentication + a GET in Redis",
    request: async (ctx) => ({ init: { token: await ctx.issueLongGrant(), consume: false }, authorization: clientAuthorization(ctx) }),
    expect: expectActive("grant"),
  }),
  rpcScenario({
    name: "revoke-connect-json-h1",
    family: "connect-json-h1",
    method: TokenService.method.revoke,
    measures: "Revoke of one JWT, repeatedly, by the client it was issued to: signature check + a SET with TTL in Redis every time",
    request: async (ctx) => ({ init: { token: await ctx.revokeJwt() }, authorization: clientAuthorization(ctx) }),
    expect: expectEmpty,
  }),
];

export function scenarioNamed(name: string): Scenario {
  const scenario = SCENARIOS.find((candidate) => candidate.name === name);
  if (scenario === undefined) throw new Error(`no scenario named ${name}`);
  return scenario;
}

/** Issues what the scenarios need before the load starts, through a real client. */
export async function createContext(baseUrl: string, secrets: BenchSecrets): Promise<BenchContext> {
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1" });
  const client = createClient(TokenService, transport);
  const clientAuth = { authorization: basicAuthorization(BENCH_CLIENT_ID, secrets.clientSecret) };
  // Issued on first use (and once), so a run of scenarios that need none of them (or a
  // reference server that only answers /oauth2/token) never asks for them.
  const once = (issue: () => Promise<string>) => {
    let issued: Promise<string> | undefined;
    return () => (issued ??= issue());
  };
  const issueJwt = async () => (await client.issueClientToken({}, { headers: clientAuth })).accessToken;
  const introspectJwt = once(issueJwt);
  const subjectJwt = once(async () => (await client.issueClientToken({ scopes: [ISSUE_SCOPE] }, { headers: clientAuth })).accessToken);
  const revokeJwt = once(async () => {
    const token = await issueJwt();
    if (token === (await introspectJwt())) throw new Error("the server issued the same access token twice");
    return token;
  });
  return {
    baseUrl,
    secrets,
    introspectJwt,
    subjectJwt,
    revokeJwt,
    async issueLongGrant() {
      const response = await client.issueGrant(
        { username: "bench-user", grants: [GRANT_SCOPE] },
        { headers: { authorization: apiKeyAuthorization(secrets.longApiKey) } },
      );
      if (response.expiresIn < 300n) throw new Error(`the long-grant API key issued a grant for ${response.expiresIn} s, expected 300`);
      return response.token;
    },
  };
}
