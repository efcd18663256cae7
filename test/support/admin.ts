import { afterAll, beforeAll } from "vitest";
import { createClient, type Client as RpcClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { ConfigInput } from "../../src/config.js";
import { ManualClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import { MemoryStore } from "../../src/store/memory.js";
import { memoryBackend, redisBackend, type Backend } from "./backends.js";
import { basic, startTestServer, tokenClient, type TestClient } from "./tokensmith.js";

export const ADMIN_SCOPE = "tokensmith:admin";

/** The backends every admin test runs on, named for the test titles. */
export const BACKENDS: Array<[name: string, make: () => Backend]> = [
  ["memory", memoryBackend],
  ["redis standalone", redisBackend],
];

export type AdminClient = RpcClient<typeof AdminService>;
export type TokenRpc = ReturnType<typeof tokenClient>;

/** Settings that keep admin tests exact: no scheduled rotation, short windows. */
export const ADMIN_TEST_CONFIG = {
  maxTokenLifetimeSeconds: 600,
  defaultTokenLifetimeSeconds: 300,
  secretOverlapSeconds: 300,
  signingKeys: { publishDelaySeconds: 60, rotateEveryDays: 0, refreshSeconds: 3600 },
} satisfies Partial<ConfigInput>;

export interface AdminTestServer {
  server: RunningServer;
  /** Frozen at a whole second; only the test moves it (Redis TTLs still run on Redis' own clock). */
  clock: ManualClock;
  /** AdminService over gRPC; every call gets a fresh admin token unless it sets its own authorization. */
  admin: AdminClient;
  /** AdminService over the same transport, sending only the headers each call sets. */
  rawAdmin: AdminClient;
  tokens: TokenRpc;
  /** An access token of the admin client with tokensmith:admin. */
  adminToken(): Promise<string>;
  close(): Promise<void>;
}

export interface AdminServerOptions {
  admin: TestClient;
  clients?: TestClient[];
  config?: Partial<ConfigInput>;
  logger?: Logger;
  /** For several instances on one Redis: the same store config for each (default: a fresh key prefix). */
  sharedConfig?: Partial<ConfigInput>;
  clock?: ManualClock;
  /** Default grpc (HTTP/2). */
  protocol?: "grpc" | "connect";
}

/**
 * Tokensmith on `backend` with a fresh, isolated store (a new MemoryStore, or
 * a new Redis key prefix) and a manual clock, with `admin` as a config client.
 * The clock drives token expiry, secret overlap and key rotation on both
 * backends, so those tests are exact on Redis too.
 */
export async function startAdminServer(backend: Backend, options: AdminServerOptions): Promise<AdminTestServer> {
  const clock = options.clock ?? new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  const memory = backend.name === "memory" ? new MemoryStore(clock) : undefined;
  const storeConfig = memory ? {} : (options.sharedConfig ?? backend.serverOptions().config);
  const server = await startTestServer({
    clock,
    ...(memory ? { store: memory } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    clients: [options.admin, ...(options.clients ?? [])],
    config: { ...ADMIN_TEST_CONFIG, ...storeConfig, ...options.config },
  });
  const transportWith = (interceptors: Interceptor[]) =>
    options.protocol === "connect"
      ? createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", interceptors })
      : createGrpcTransport({ baseUrl: server.url, interceptors });
  const tokens = tokenClient(transportWith([]));
  const adminToken = async () =>
    (await tokens.issueClientToken({ scopes: [ADMIN_SCOPE] }, { headers: basic(options.admin.id, options.admin.secret) })).accessToken;
  const bearer: Interceptor = (next) => async (request) => {
    if (!request.header.has("authorization")) request.header.set("authorization", `Bearer ${await adminToken()}`);
    return next(request);
  };
  const admin = createClient(AdminService, transportWith([bearer]));
  return {
    server,
    clock,
    admin,
    rawAdmin: createClient(AdminService, transportWith([])),
    tokens,
    adminToken,
    async close() {
      await server.close();
      await memory?.close();
    },
  };
}

/**
 * Inside a describe: a fresh `makeBackend()` and admin server for its tests,
 * started before them and stopped after. Returns the server's getter.
 */
export function useAdminServer(makeBackend: () => Backend, options: AdminServerOptions): () => AdminTestServer {
  const backend = makeBackend();
  let t: AdminTestServer | undefined;
  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, options);
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });
  return () => t!;
}

/**
 * Inside a describe: two instances sharing one fresh redis-server, one
 * issuer and one manual clock, started before its tests and stopped after.
 * Returns their getter.
 */
export function useTwoInstancesOnRedis(options: Omit<AdminServerOptions, "sharedConfig" | "clock">): () => { a: AdminTestServer; b: AdminTestServer; clock: ManualClock } {
  const backend = redisBackend();
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  let pair: { a: AdminTestServer; b: AdminTestServer; clock: ManualClock } | undefined;
  beforeAll(async () => {
    await backend.start();
    const shared: Partial<ConfigInput> = { ...backend.serverOptions().config, issuer: "http://tokensmith.test" };
    const a = await startAdminServer(backend, { ...options, sharedConfig: shared, clock });
    const b = await startAdminServer(backend, { ...options, sharedConfig: shared, clock });
    pair = { a, b, clock };
  });
  afterAll(async () => {
    await Promise.all([pair?.a.close(), pair?.b.close()]);
    await backend.stop();
  });
  return () => pair!;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export const apiKeyAuthorization = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}` });

/** The JSON payload of a JWT, unverified: to read `kid` and claims in assertions. */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header = "", payload = ""] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>,
  };
}
