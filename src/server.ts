import { readFileSync } from "node:fs";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { pino, type Logger } from "pino";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { TokenService } from "../gen/tokensmith/v1/token_service_pb.js";
import { AdminService } from "../gen/tokensmith/v1/admin_service_pb.js";
import { adminService } from "./rpc/admin-service.js";
import { DiagnosticsService } from "../gen/tokensmith/v1/diagnostics_service_pb.js";
import { diagnosticsService } from "./rpc/diagnostics-service.js";
import { startKeyMaintenance } from "./keys/key-maintenance.js";
import { createDomain, type Domain } from "./app.js";
import { CallEdge } from "./edge/call-edge.js";
import type { Client } from "./domain/client.js";
import type { ApiKey } from "./domain/api-key.js";
import { systemClock, type Clock } from "./domain/clock.js";
import { issuerOf, type Config } from "./config.js";
import { corsHandler, type CorsHandler } from "./http/cors.js";
import type { Metrics } from "./observability/metrics.js";
import { clientAddressResolver, type ClientAddressResolver } from "./http/client-address.js";
import { httpRoutes, isDocument, isHttpRoute } from "./http/http-routes.js";
import { sendJson } from "./http/json-response.js";
import { listenOnePort, type NodeRequestListener } from "./one-port.js";
import { errorMappingInterceptor } from "./rpc/error-mapping.js";
import { contextValuesOf, domainOfCall, setRequestTenant } from "./rpc/call-context.js";
import { routeTenant } from "./edge/tenant-route.js";
import { DEFAULT_TENANT } from "./store/tenant-store.js";
import { UNKNOWN_TENANT } from "./tenant-domains.js";
import { OAuthError } from "./domain/oauth-error.js";
import { metricsInterceptor, observedCall } from "./rpc/observability-interceptor.js";
import { connectUnaryFastPath } from "./rpc/connect-unary-fast-path.js";
import { operationsRoutes, type Lifecycle } from "./http/operations-routes.js";
import { consoleRoute } from "./http/console-route.js";
import type { NodeRequest, NodeResponse } from "./edge/node-http.js";
import { HealthMonitor, healthService } from "./rpc/health.js";
import { registerReflection, registeredServices } from "./rpc/reflection.js";
import { tokenService } from "./rpc/token-service.js";
import { servedService, type ServedService } from "./rpc/served-service.js";
import { createStore } from "./store/create-store.js";
import { EvictionPolicyError } from "./store/eviction-policy.js";
import type { Store } from "./store/store.js";
import type { Tracer } from "@opentelemetry/api";
import { RequestTracing } from "./observability/request-tracing.js";
import { tracedStore } from "./store/traced-store.js";

export interface RunningServer {
  url: string;
  port: number;
  domain: Domain;
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  store?: Store;
  logger?: Logger;
  extraClients?: Client[];
  extraApiKeys?: ApiKey[];
  /**
   * Traces the API's calls, their store operations and signatures with this
   * tracer (the CLI passes one when OTEL_EXPORTER_OTLP_ENDPOINT is set). Without
   * it nothing is wrapped: no call pays for tracing.
   */
  tracer?: Tracer;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    base: { service: "tokensmith", pid: process.pid },
    redact: {
      paths: ["req.headers.authorization", "authorization", "*.client_secret", "*.clientSecret", "*.token", "*.access_token"],
      censor: "[redacted]",
    },
  });
}

/** The API's services and their implementations, built once for both paths. */
/** The services, each call served by the domain of its tenant (the default tenant's when the edge set none). */
function apiServices(domain: Domain): ServedService[] {
  return [
    servedService(TokenService, tokenService((context) => tokenServiceDomain(context, domain))),
    servedService(AdminService, adminService((context) => domainOfCall(context, domain).administration, domain.platform)),
    servedService(DiagnosticsService, diagnosticsService()),
  ];
}

/** A tenant that does not exist has no JWKS to give: NotFound rather than the keys of its stand-in. */
function tokenServiceDomain(context: HandlerContext, fallback: Domain): Domain {
  const domain = domainOfCall(context, fallback);
  if (domain.tenant === UNKNOWN_TENANT && context.method.name === "GetJwks") throw new OAuthError("invalid_request", "not_found", "no such tenant");
  return domain;
}

/** The single place where services are wired to the router. */
export function routes(domain: Domain, lifecycle: Lifecycle, services = apiServices(domain)) {
  return (router: ConnectRouter) => {
    for (const served of services) served.register(router);
    // Health and reflection read the router on first use, so they cover every
    // service registered in this function, wherever it is registered.
    const health = new HealthMonitor({ probe: () => lifecycle.storeReachable() });
    const served = () => registeredServices(router).map((service) => service.typeName).filter((name) => !name.startsWith("grpc."));
    router.service(Health, healthService(health, served));
    registerReflection(router);
  };
}

/** `/<service>/<method>` of every RPC of the API (health checks and reflection are not traced). */
function rpcPathsOf(services: ServedService[]): Set<string> {
  return new Set(services.flatMap((served) => served.service.methods.map((method) => `/${served.service.typeName}/${method.name}`)));
}

const MAX_RPC_MESSAGE_BYTES = 64 * 1024;
/** How often a tenant other than the default re-reads its key ring unprompted (see maintainKeys). */
const TENANT_KEY_REFRESH_SECONDS = 300;

function isTls(req: NodeRequest, proxies: ClientAddressResolver): boolean {
  if ((req.socket as { encrypted?: boolean } | undefined)?.encrypted) return true;
  return proxies.trusts(req.socket?.remoteAddress) && String(req.headers["x-forwarded-proto"] ?? "").split(",")[0]?.trim() === "https";
}

/** `shutdownSignal` ends open server streams (WatchRevocations), which would otherwise hold the shutdown for its whole grace time. */
export function requestHandler(domain: Domain, lifecycle: Lifecycle, shutdownSignal?: AbortSignal, tracer?: Tracer): NodeRequestListener {
  const services = apiServices(domain);
  const proxies = clientAddressResolver(domain.config);
  const tracing = tracer === undefined ? undefined : new RequestTracing(tracer, rpcPathsOf(services), isHttpRoute);
  const edge = new CallEdge({ logger: domain.logger, storeOutages: domain.storeOutages, metrics: domain.metrics, peerOf: proxies.of, tracing });
  const contextValues = contextValuesOf(edge.peerOf);
  const rpc = connectNodeAdapter({
    routes: routes(domain, lifecycle, services),
    // Outermost first: metrics see the final, mapped code.
    interceptors: [metricsInterceptor(edge), errorMappingInterceptor(edge)],
    contextValues,
    readMaxBytes: MAX_RPC_MESSAGE_BYTES,
    shutdownSignal,
  });
  const connectUnary = !domain.config.rpcFastPath ? () => false : connectUnaryFastPath({
    services: services.map((served) => served.spec),
    readMaxBytes: MAX_RPC_MESSAGE_BYTES,
    contextValues,
    around: observedCall(edge),
  });
  // Each tenant's OAuth endpoints and documents, built on its first request (closures over its domain).
  const httpByTenant = new WeakMap<Domain, ReturnType<typeof httpRoutes>>();
  const httpOf = (tenant: Domain) => {
    let routesOfTenant = httpByTenant.get(tenant);
    if (routesOfTenant === undefined) httpByTenant.set(tenant, (routesOfTenant = httpRoutes(tenant, edge)));
    return routesOfTenant;
  };
  const operations = operationsRoutes({ lifecycle, metrics: domain.metrics });
  const webConsole = consoleRoute({ logger: domain.logger });
  const cors = corsHandler(domain.config.cors);
  // A tenant's own origins (cors_allowed_origins) are allowed, with the deployment's, at its /t/<tenant>/ URLs.
  const corsByTenant = new WeakMap<Domain, CorsHandler>();
  const corsOf = (tenant: Domain): CorsHandler => {
    const own = tenant.settings.corsAllowedOrigins ?? [];
    if (own.length === 0) return cors;
    let handler = corsByTenant.get(tenant);
    if (handler === undefined) {
      const { allowedOrigins, allowCredentials } = domain.config.cors;
      corsByTenant.set(tenant, (handler = corsHandler({ allowedOrigins: [...allowedOrigins, ...own], allowCredentials })));
    }
    return handler;
  };
  const requireTls = domain.config.requireTls ?? domain.config.tls !== undefined;
  return (req, res) => {
    edge.admit(req, res);
    if (operations(req, res)) return;
    // A tenant named by path gets its own CORS once its domain is known (below); a preflight carries no header values, so by header it is the deployment's.
    const byPath = req.url?.startsWith("/t/") === true;
    if (!byPath && cors(req, res)) return;
    if (requireTls && !isTls(req, proxies)) {
      req.resume();
      sendJson(res, 403, { error: "invalid_request", error_description: "TLS is required: calls made over plain HTTP are refused; use https://" });
      return;
    }
    if (webConsole(req, res)) return;
    const target = routeTenant(req);
    const tenantCors = byPath && target.ok && target.wellFormed && target.tenant !== DEFAULT_TENANT;
    if (byPath && !tenantCors && cors(req, res)) return;
    if (!target.ok) {
      // The RPC handlers answer InvalidArgument with this; an OAuth endpoint answers invalid_request.
      setRequestTenant(req, target.message);
      if (isHttpRoute(req)) return sendJson(res, 400, { error: "invalid_request", error_description: target.message });
      return serve(domain, req, res);
    }
    if (target.tenant === DEFAULT_TENANT) return serve(domain, req, res);
    const serveTenant = (tenant: Domain) => {
      if (tenantCors && corsOf(tenant)(req, res)) return;
      serve(tenant, req, res);
    };
    const loaded = target.wellFormed ? domain.tenants.peek(target.tenant) : undefined;
    if (loaded !== undefined) return serveTenant(loaded);
    (target.wellFormed ? domain.tenants.find(target.tenant) : Promise.resolve(undefined)).then(
      (found) => {
        if (found !== undefined) return serveTenant(found);
        if (tenantCors && cors(req, res)) return;
        serveUnknownTenant(req, res);
      },
      (error: unknown) => {
        if (tenantCors && cors(req, res)) return;
        // The store could not say whether the tenant exists: Unavailable, as for any call that needs the store.
        const failure = edge.failure(error, edge.requestIdOf(req));
        setRequestTenant(req, failure.message);
        if (isHttpRoute(req)) return sendJson(res, 503, { error: failure.error, error_description: failure.message }, { "retry-after": "1" });
        return serve(domain, req, res);
      },
    );
  };

  function serve(tenant: Domain, req: NodeRequest, res: NodeResponse): void {
    if (tracing === undefined) serveCall(tenant, req, res);
    else tracing.serve(req, res, tenant.tenant, () => serveCall(tenant, req, res));
  }

  function serveCall(tenant: Domain, req: NodeRequest, res: NodeResponse): void {
    if (tenant !== domain) setRequestTenant(req, tenant);
    if (httpOf(tenant)(req, res)) return;
    if (connectUnary(req, res)) return;
    rpc(req, res);
  }

  /**
   * A tenant that does not exist answers like a client that does not: its
   * stand-in has no clients, API keys or admins, so every call fails
   * authentication with invalid_client after the same store reads. Its
   * discovery documents are 404.
   */
  function serveUnknownTenant(req: NodeRequest, res: NodeResponse): void {
    if (isDocument(req)) return sendJson(res, 404, { error: "not_found", error_description: "no such tenant" });
    domain.tenants.unknown().then(
      (standIn) => serve(standIn, req, res),
      (error: unknown) => sendJson(res, 500, { error: "server_error", error_description: edge.failure(error, edge.requestIdOf(req)).message }),
    );
  }
}



/**
 * At start-up the store may still be connecting: wait a bounded time, then
 * fail with a clear message. A Redis that may evict fails the start at once.
 */
async function waitForStore(store: Store, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      await store.ping();
      return;
    } catch (error) {
      // Waiting will not change a policy: say at once what to set.
      if (error instanceof EvictionPolicyError) throw new Error(`refusing to start: ${error.message}`, { cause: error });
      if (Date.now() + delay > deadline) {
        throw new Error(`cannot reach the store after ${timeoutMs} ms: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Starts Tokensmith: store, key ring, domain, and one port for every protocol. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config);
  const untracedStore = options.store ?? createStore(config.store, clock, logger);
  const store = options.tracer === undefined ? untracedStore : tracedStore(untracedStore, options.tracer, config.store.type);
  // The issuer may depend on the bound port (port 0), so requests that race
  // the start-up get a 503 until the domain is ready.
  let handler: NodeRequestListener = (_req, res) =>
    sendJson(res, 503, { error: "temporarily_unavailable", error_description: "starting" }, { "retry-after": "1" });
  const tls = config.tls ? { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } : undefined;
  // Refusals while the domain (and its metrics) is still being built go uncounted.
  let metrics: Metrics | undefined;
  const server = await listenOnePort({
    host: config.host,
    port: config.port,
    tls,
    handler: (req, res) => handler(req, res),
    http2Sessions: {
      limits: config.http2,
      exemptFromPeerLimit: clientAddressResolver(config).trusts,
      onRefused: (reason) => metrics?.http2SessionRefused(reason),
    },
  });
  let domain: Domain;
  try {
    await waitForStore(store, config.store.type === "redis" ? 15_000 : 0);
    const issuer = issuerOf(config, server.port);
    if (config.store.type === "redis" && config.issuer === undefined) {
      // Tokens carry iss and every instance checks it: on a shared store each instance would refuse the others' tokens.
      logger.warn(
        { issuer },
        `issuer is not set, so it is this instance's own address ${issuer}: instances sharing this Redis refuse each other's tokens unless they share one issuer; set TOKENSMITH_ISSUER (issuer) to the public URL`,
      );
    }
    domain = await createDomain({ config, issuer, clock, store, logger, extraClients: options.extraClients, extraApiKeys: options.extraApiKeys, http2Sessions: () => server.http2Sessions, tracer: options.tracer });
    metrics = domain.metrics;
  } catch (error) {
    await server.close(0);
    if (!options.store) await store.close();
    throw error;
  }
  let accepting = true;
  const lifecycle: Lifecycle = {
    accepting: () => accepting,
    storeReachable: () => (accepting ? store.ping() : Promise.reject(new Error("shutting down"))),
  };
  const shutdown = new AbortController();
  handler = requestHandler(domain, lifecycle, shutdown.signal, options.tracer);
  // Each tenant's key ring is refreshed and rotated while the tenant is loaded here (a tenant not in use costs nothing).
  const maintainKeys = (tenant: Domain): ReturnType<typeof startKeyMaintenance> =>
    startKeyMaintenance({
      keyRing: tenant.keyRing,
      store: tenant.store,
      feed: tenant.feed,
      audit: tenant.audit,
      clock,
      logger,
      // The feed announces every key change to every instance; the timer is what checks the rotation schedule and
      // the fallback should an announcement be missed. Other tenants' rings are re-read at most every 5 minutes:
      // at 10,000 tenants held, every 10 s was 1,000 reads and decryptions a second whatever the traffic.
      refreshMs: (tenant === domain ? config.signingKeys.refreshSeconds : Math.max(config.signingKeys.refreshSeconds, TENANT_KEY_REFRESH_SECONDS)) * 1000,
      rotateEveryMs: config.signingKeys.rotateEveryDays * 86_400_000,
      publishDelayMs: config.signingKeys.publishDelaySeconds * 1000,
      retireAfterMs: config.maxTokenLifetimeSeconds * 1000,
    });
  const maintenance = maintainKeys(domain);
  domain.tenants.maintainWith(maintainKeys);
  domain.follower.start();
  const scheme = tls ? "https" : "http";
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  logger.info({ port: server.port, issuer: domain.issuer, store: config.store.type }, "tokensmith listening");
  return {
    url: `${scheme}://${host}:${server.port}`,
    port: server.port,
    domain,
    /** Graceful: readiness goes false first, then the port closes and requests in flight finish within the grace time. */
    async close() {
      if (!accepting) return;
      accepting = false;
      if (config.shutdownDelaySeconds > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDelaySeconds * 1000));
      maintenance.stop();
      domain.platform.close();
      domain.tenants.close();
      domain.follower.stop();
      domain.storeOutages.close();
      // Before the port closes: open watch streams end now and their connections go idle, so close() need not wait out the grace.
      shutdown.abort();
      await server.close(config.shutdownGraceSeconds * 1000);
      await domain.keyRing.close();
      if (!options.store) await store.close();
    },
  };
}
