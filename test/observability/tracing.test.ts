import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { killCliProcesses, runCli, type Run } from "../support/cli-process.js";
import { eventually } from "../support/eventually.js";
import { assertionClaims, assertionForm, generateClientKey, postForm, postFormFrom, signAssertion, startHttpHost, type ClientKey, type HttpHost } from "../support/oauth.js";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.js";
import { freePort, startRedis, type RedisServer } from "../support/redis-server.js";
import { basic, tokenClient, transports } from "../support/tokensmith.js";

/**
 * Tracing (issue 21, item 2): a real `tokensmith serve` process exports its
 * spans over OTLP/HTTP to a receiver on loopback when OTEL_EXPORTER_OTLP_ENDPOINT
 * is set, and loads no SDK and sends nothing when it is not.
 */

/** Starting tokensmith (tsx) takes seconds, more on a loaded machine; two workers and their shutdown, more again. */
const PROCESS_TEST_TIMEOUT_MS = 60_000;
const WORKERS_TEST_TIMEOUT_MS = 120_000;

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

interface Caller {
  traceId: string;
  parentSpanId: string;
  traceparent: string;
}

function caller(): Caller {
  const traceId = hex(16);
  const parentSpanId = hex(8);
  return { traceId, parentSpanId, traceparent: `00-${traceId}-${parentSpanId}-01` };
}

/**
 * A module loader hook, loaded with `--import` before Tokensmith: it writes
 * down every @opentelemetry module the process imports, so a test can tell
 * whether the SDK was loaded at all.
 */
async function moduleLogHook(dir: string): Promise<{ hook: string; log: string }> {
  const log = join(dir, `modules-${hex(4)}.log`);
  const resolveHook = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.includes("/@opentelemetry/")) appendFileSync(${JSON.stringify(log)}, resolved.url + "\\n");
  return resolved;
}`;
  const hook = join(dir, `module-log-${hex(4)}.mjs`);
  await writeFile(hook, `import { register } from "node:module";\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(resolveHook)}`)});\n`);
  await writeFile(log, "");
  return { hook, log };
}

interface Fixture {
  dir: string;
  receiver: OtlpReceiver;
  jwksHost: HttpHost;
  /** traceparent headers the JWKS host was fetched with. */
  jwksTraceparents: string[];
  key: ClientKey;
  secret: string;
  config: string;
}

async function fixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), "tokensmith-tracing-"));
  const receiver = await startOtlpReceiver();
  const key = await generateClientKey("ES256");
  const jwksTraceparents: string[] = [];
  // The client's key server, noting the trace context each fetch carried.
  const jwksHost = await startHttpHost((req, res) => {
    jwksTraceparents.push(String(req.headers.traceparent ?? ""));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [key.publicJwk] }));
  });
  const secret = generateSecret("client_secret");
  const config = join(dir, "tokensmith.yaml");
  await writeFile(
    config,
    [
      "clientJwksUris: { allowHttp: true, allowPrivateNetworks: true }",
      "clients:",
      `  - { id: svc, secretHashes: ["${hashSecret(secret)}"], scopes: [orders:read, token:introspect] }`,
      `  - { id: keyed, jwksUri: "${jwksHost.url}", scopes: [orders:read] }`,
      "tenants:",
      `  - { id: acme, clients: [{ id: acme-svc, secretHashes: ["${hashSecret(secret)}"], scopes: [orders:read] }] }`,
      "",
    ].join("\n"),
  );
  return {
    dir,
    receiver,
    jwksHost,
    jwksTraceparents,
    key,
    secret,
    config,
  };
}

async function serve(env: Record<string, string>, config: string, hook: string): Promise<{ run: Run; url: string }> {
  const port = await freePort();
  const run = runCli(["serve", "--config", config], { TOKENSMITH_PORT: String(port), TOKENSMITH_LOG_LEVEL: "info", ...env }, { nodeArgs: ["--import", hook] });
  await run.waitForStdout(/"msg":"tokensmith listening"/);
  return { run, url: `http://127.0.0.1:${port}` };
}

async function stop(run: Run): Promise<void> {
  run.child.kill("SIGTERM");
  const { code } = await run.exited;
  expect(code).toBe(0);
}

/** The calls every run makes: tokens over the OAuth endpoint (secret and private_key_jwt) and over RPCs, and failures. */
async function makeCalls(f: Fixture, url: string) {
  const form = caller();
  const issued = await postForm(`${url}/oauth2/token`, { grant_type: "client_credentials" }, { ...basic("svc", f.secret), traceparent: form.traceparent, tracestate: "vendor=opaque" });
  expect(issued.status).toBe(200);
  const formToken = (issued.json as { access_token: string }).access_token;

  const keyed = caller();
  const assertion = await signAssertion(f.key, assertionClaims("keyed", `${url}/oauth2/token`, Date.now()));
  const byKey = await postForm(`${url}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion, { client_id: "keyed" }) }, { traceparent: keyed.traceparent });
  expect(byKey.status).toBe(200);
  const keyedToken = (byKey.json as { access_token: string }).access_token;

  const wrongSecret = generateSecret("client_secret");
  const refused = caller();
  const failed = await postForm(`${url}/oauth2/token`, { grant_type: "client_credentials", client_id: "svc", client_secret: wrongSecret }, { traceparent: refused.traceparent });
  expect(failed.status).toBe(401);

  const tenant = caller();
  const tenantIssued = await postForm(`${url}/t/acme/oauth2/token`, { grant_type: "client_credentials" }, { ...basic("acme-svc", f.secret), traceparent: tenant.traceparent });
  expect(tenantIssued.status).toBe(200);

  const introspection = caller();
  const introspected = await postForm(`${url}/oauth2/introspect`, { token: keyedToken }, { ...basic("svc", f.secret), traceparent: introspection.traceparent });
  expect((introspected.json as { active: boolean }).active).toBe(true);
  const revocation = caller();
  const revoked = await postForm(`${url}/oauth2/revoke`, { token: formToken }, { ...basic("svc", f.secret), traceparent: revocation.traceparent });
  expect(revoked.status).toBe(200);

  const connect = caller();
  const rpcIssued = await tokenClient(transports["connect JSON (HTTP/1.1)"](url)).issueClientToken({}, { headers: { ...basic("svc", f.secret), traceparent: connect.traceparent } });
  const grpcWeb = caller();
  const webIssued = await tokenClient(transports["grpc-web (HTTP/1.1)"](url)).issueClientToken({}, { headers: { ...basic("svc", f.secret), traceparent: grpcWeb.traceparent } });
  const grpcRefused = caller();
  const rpcError = await tokenClient(transports["grpc (HTTP/2)"](url))
    .issueClientToken({ clientId: "svc", clientSecret: wrongSecret }, { headers: { traceparent: grpcRefused.traceparent } })
    .then(() => undefined, (error: unknown) => ConnectError.from(error));
  expect(rpcError?.code).toBe(Code.Unauthenticated);

  return {
    callers: { form, keyed, refused, tenant, introspection, revocation, connect, grpcWeb, grpcRefused },
    secrets: [
      f.secret,
      wrongSecret,
      basic("svc", f.secret).authorization,
      Buffer.from(`svc:${f.secret}`).toString("base64"),
      assertion,
      ...[formToken, keyedToken, (tenantIssued.json as { access_token: string }).access_token, rpcIssued.accessToken, webIssued.accessToken].flatMap((token) => [token, token.split(".")[2]!]),
    ],
  };
}

const serverSpanOf = (spans: ReceivedSpan[], trace: Caller) => spans.find((span) => span.traceId === trace.traceId && span.parentSpanId === trace.parentSpanId);
const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((span) => span.traceId === parent.traceId && span.parentSpanId === parent.spanId);

afterEach(() => killCliProcesses());

/** A fixture (and a Redis, when asked) for the tests of one describe block, removed after them. */
function useFixture(withRedis: boolean): { fixture: () => Fixture; redis: () => RedisServer | undefined } {
  let f: Fixture | undefined;
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    f = await fixture();
    if (withRedis) redis = await startRedis();
  });
  afterAll(async () => {
    await f?.receiver.close();
    await f?.jwksHost.close();
    await redis?.stop();
    if (f !== undefined) await rm(f.dir, { recursive: true, force: true });
  });
  return { fixture: () => f!, redis: () => redis };
}

describe.each([
  { store: "memory", flushed: "by the batch processor while running" },
  { store: "redis", flushed: "on SIGTERM (graceful shutdown flushes the SDK)" },
] as const)("OTEL_EXPORTER_OTLP_ENDPOINT set, $store store: spans exported $flushed", ({ store }) => {
  const fixtures = useFixture(store === "redis");

  it("a server span per OAuth request and RPC, child of the caller's traceparent, with store and signing children and no secret anywhere", async () => {
    const f = fixtures.fixture();
    const redis = fixtures.redis();
    const { hook, log } = await moduleLogHook(f.dir);
    const env: Record<string, string> = {
      OTEL_EXPORTER_OTLP_ENDPOINT: f.receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=tracing-test",
      // Memory: exported within 100 ms while running. Redis: not before a minute, so only the shutdown's flush can deliver them.
      OTEL_BSP_SCHEDULE_DELAY: store === "memory" ? "100" : "60000",
      ...(redis !== undefined ? { REDIS_URL: redis.url } : {}),
    };
    const { run, url } = await serve(env, f.config, hook);
    const { callers, secrets } = await makeCalls(f, url);
    const expected = Object.values(callers);
    const allServerSpans = () => expected.every((trace) => serverSpanOf(f.receiver.spans(), trace) !== undefined);
    if (store === "memory") {
      await eventually(async () => allServerSpans());
      await stop(run);
    } else {
      expect(f.receiver.spans()).toEqual([]);
      await stop(run);
      expect(allServerSpans()).toBe(true);
    }
    const spans = f.receiver.spans();
    const system = store;

    // POST /oauth2/token with a Basic header: the caller's trace and parent, tracestate kept.
    const token = serverSpanOf(spans, callers.form)!;
    expect(token).toMatchObject({ name: "POST /oauth2/token", kind: SPAN_KIND_SERVER });
    expect(token.attributes).toMatchObject({
      "http.request.method": "POST",
      "url.path": "/oauth2/token",
      "http.response.status_code": 200,
      "oauth.grant_type": "client_credentials",
      "oauth.client_id": "svc",
      "tokensmith.tenant": "default",
    });
    expect(token.status.code ?? 0).not.toBe(STATUS_ERROR);
    expect((token as ReceivedSpan & { traceState?: string }).traceState).toBe("vendor=opaque");
    const { version } = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(token.resource).toMatchObject({ "service.name": "tokensmith", "service.version": version, "deployment.environment.name": "tracing-test" });
    // A client from the config file is authenticated without the store: its token's only child is the signature.
    const signing = childrenOf(spans, token).find((span) => span.name === "sign access token");
    expect(signing?.attributes).toMatchObject({ "jwt.alg": expect.any(String), "jwt.kid": expect.any(String) });

    // private_key_jwt: the client's registration and the assertion's jti in the store, the JWKS fetch a client
    // span whose traceparent the key server got, then the signature.
    const keyed = serverSpanOf(spans, callers.keyed)!;
    expect(keyed.attributes).toMatchObject({ "oauth.client_id": "keyed", "http.response.status_code": 200 });
    const keyedChildren = childrenOf(spans, keyed);
    const storeSpans = keyedChildren.filter((span) => span.attributes["db.system"] !== undefined);
    expect(storeSpans.map((span) => span.attributes["db.operation.name"])).toEqual(expect.arrayContaining(["hashGet", "set"]));
    for (const span of storeSpans) {
      expect(span.name).toBe(`${system} ${String(span.attributes["db.operation.name"])}`);
      expect(span.attributes).toEqual({ "db.system": system, "db.operation.name": expect.stringMatching(/^[a-zA-Z]+$/) });
    }
    expect(keyedChildren.some((span) => span.name === "sign access token")).toBe(true);
    const fetchSpan = keyedChildren.find((span) => span.kind === SPAN_KIND_CLIENT);
    expect(fetchSpan).toMatchObject({ name: "GET" });
    expect(fetchSpan?.attributes).toEqual({ "http.request.method": "GET", "server.address": "127.0.0.1", "server.port": expect.any(Number), "http.response.status_code": 200 });
    expect(f.jwksTraceparents).toEqual([`00-${callers.keyed.traceId}-${fetchSpan!.spanId}-01`]);

    // A refused client: error status with the OAuth error code, and no message.
    const refused = serverSpanOf(spans, callers.refused)!;
    expect(refused.attributes).toMatchObject({ "http.response.status_code": 401, "error.type": "invalid_client" });
    expect(refused.status).toEqual({ code: STATUS_ERROR, message: "invalid_client" });
    // Counted against the failure rate limits in the store; no client id recorded for a request that failed.
    expect(childrenOf(spans, refused).some((span) => span.attributes["db.system"] === system)).toBe(true);
    expect(refused.attributes["oauth.client_id"]).toBeUndefined();

    // A tenant's request (/t/acme/...): the route's name, the tenant as an attribute.
    const ofTenant = serverSpanOf(spans, callers.tenant)!;
    expect(ofTenant).toMatchObject({ name: "POST /oauth2/token", kind: SPAN_KIND_SERVER });
    expect(ofTenant.attributes).toMatchObject({ "url.path": "/oauth2/token", "tokensmith.tenant": "acme", "oauth.client_id": "acme-svc", "http.response.status_code": 200 });

    // Introspection and revocation: the token they were given stays out of the trace (checked below with the rest).
    for (const [trace, path] of [
      [callers.introspection, "/oauth2/introspect"],
      [callers.revocation, "/oauth2/revoke"],
    ] as const) {
      const span = serverSpanOf(spans, trace)!;
      expect(span).toMatchObject({ name: `POST ${path}`, kind: SPAN_KIND_SERVER });
      expect(span.attributes).toEqual({ "http.request.method": "POST", "url.path": path, "tokensmith.tenant": "default", "http.response.status_code": 200 });
      expect(childrenOf(spans, span).some((child) => child.attributes["db.system"] === system)).toBe(true);
    }

    // RPCs, through the unary fast path (Connect JSON, gRPC) and connect-node (gRPC-Web).
    for (const [trace, rpcSystem] of [
      [callers.connect, "connect_rpc"],
      [callers.grpcWeb, "grpc_web"],
    ] as const) {
      const rpc = serverSpanOf(spans, trace)!;
      expect(rpc).toMatchObject({ name: "tokensmith.v1.TokenService/IssueClientToken", kind: SPAN_KIND_SERVER });
      expect(rpc.attributes).toMatchObject({ "rpc.system": rpcSystem, "rpc.service": "tokensmith.v1.TokenService", "rpc.method": "IssueClientToken", "tokensmith.tenant": "default" });
      expect(rpc.status.code ?? 0).not.toBe(STATUS_ERROR);
      expect(childrenOf(spans, rpc).some((span) => span.name === "sign access token")).toBe(true);
    }
    const grpcRefused = serverSpanOf(spans, callers.grpcRefused)!;
    expect(grpcRefused.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.grpc.status_code": Code.Unauthenticated, "error.type": "unauthenticated" });
    expect(grpcRefused.status).toEqual({ code: STATUS_ERROR, message: "unauthenticated" });
    expect(childrenOf(spans, grpcRefused).some((span) => span.attributes["db.system"] === system)).toBe(true);

    // Nothing that left the process carries a secret, a token or an Authorization header.
    const exported = f.receiver.bodies().join("\n");
    for (const secret of secrets) expect(exported).not.toContain(secret);

    const modules = await readFile(log, "utf8");
    expect(modules).toMatch(/@opentelemetry\/sdk-trace-node\//);
    expect(modules).toMatch(/@opentelemetry\/exporter-trace-otlp-http\//);
  }, PROCESS_TEST_TIMEOUT_MS);
});

describe("OTEL_EXPORTER_OTLP_ENDPOINT set, --workers 2", () => {
  const fixtures = useFixture(true);

  it("each worker exports its own spans (its pid in the resource) and flushes them when the primary stops it; the primary sends none", async () => {
    const f = fixtures.fixture();
    const redis = fixtures.redis()!;
    const { hook } = await moduleLogHook(f.dir);
    const port = await freePort();
    const env = { TOKENSMITH_PORT: String(port), TOKENSMITH_LOG_LEVEL: "info", REDIS_URL: redis.url, OTEL_EXPORTER_OTLP_ENDPOINT: f.receiver.url, OTEL_BSP_SCHEDULE_DELAY: "60000" };
    const run = runCli(["serve", "--config", f.config, "--workers", "2"], env, { nodeArgs: ["--import", hook] });
    await eventually(async () => (run.stdout().match(/"msg":"tokensmith listening"/g) ?? []).length === 2, 60_000);
    const traces = Array.from({ length: 8 }, () => caller());
    for (const trace of traces) {
      // A connection per request (connection: close), so the cluster hands them to both workers.
      const issued = await postFormFrom(`http://127.0.0.1:${port}`, "/oauth2/token", { grant_type: "client_credentials" }, {
        authorization: basic("svc", f.secret).authorization,
        headers: { traceparent: trace.traceparent, connection: "close" },
      });
      expect(issued.status).toBe(200);
    }
    expect(f.receiver.spans()).toEqual([]);
    await stop(run);
    const spans = traces.map((trace) => serverSpanOf(f.receiver.spans(), trace));
    expect(spans.every((span) => span !== undefined)).toBe(true);
    const pids = new Set(spans.map((span) => span!.resource["process.pid"]));
    expect(pids.size).toBe(2);
    expect(pids.has(run.child.pid)).toBe(false);
  }, WORKERS_TEST_TIMEOUT_MS);
});

describe("OTEL_EXPORTER_OTLP_ENDPOINT set, the collector refuses the spans", () => {
  const fixtures = useFixture(false);

  it("says so in the log as a warning, and keeps serving", async () => {
    const f = fixtures.fixture();
    const collector = await startHttpHost((req, res) => {
      req.resume();
      res.writeHead(400, { "content-type": "text/plain" }).end("refused");
    });
    try {
      const { hook } = await moduleLogHook(f.dir);
      const { run, url } = await serve({ OTEL_EXPORTER_OTLP_ENDPOINT: new URL(collector.url).origin, OTEL_BSP_SCHEDULE_DELAY: "50" }, f.config, hook);
      const first = await postForm(`${url}/oauth2/token`, { grant_type: "client_credentials" }, { ...basic("svc", f.secret), traceparent: caller().traceparent });
      expect(first.status).toBe(200);
      const [line = ""] = await run.waitForStdout(/\{[^\n]*"msg":"tracing: [^\n]*/);
      expect(JSON.parse(line)).toMatchObject({ level: 40, msg: "tracing: OTLPExporterError: Bad Request (400)" });
      expect(collector.hits()).toBeGreaterThan(0);
      const second = await postForm(`${url}/oauth2/token`, { grant_type: "client_credentials" }, basic("svc", f.secret));
      expect(second.status).toBe(200);
      expect(run.stdout()).not.toContain(f.secret);
      expect(run.stdout()).not.toContain((first.json as { access_token: string }).access_token);
      await stop(run);
    } finally {
      await collector.close();
    }
  }, PROCESS_TEST_TIMEOUT_MS);
});

describe("OTEL_EXPORTER_OTLP_ENDPOINT unset", () => {
  const fixtures = useFixture(false);

  it("loads no OpenTelemetry SDK or exporter and sends nothing, through the same calls and a graceful shutdown", async () => {
    const f = fixtures.fixture();
    const { hook, log } = await moduleLogHook(f.dir);
    const { run, url } = await serve({ OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "", OTEL_BSP_SCHEDULE_DELAY: "50" }, f.config, hook);
    await makeCalls(f, url);
    // The JWKS fetch carries no trace context either.
    expect(f.jwksTraceparents).toEqual([""]);
    await stop(run);
    expect(f.receiver.bodies()).toEqual([]);
    const modules = await readFile(log, "utf8");
    expect(modules).not.toMatch(/@opentelemetry\/(sdk-|exporter-|otlp-|resources\/|context-async-hooks\/|core\/)/);
  }, PROCESS_TEST_TIMEOUT_MS);
});
