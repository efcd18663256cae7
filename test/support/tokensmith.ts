import { createClient, type Client as RpcClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { parseConfig, type ConfigInput } from "../../src/config.js";
import { basicAuthorization } from "../../src/client/basic-authorization.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { LOG_DIR } from "./log-audit.js";
import { startServer, type RunningServer, type StartOptions } from "../../src/server.js";

export interface TestClient {
  id: string;
  secret: string;
  scopes: string[];
  audiences?: string[];
  tokenLifetimeSeconds?: number;
  /** RFC 7591 names; default client_credentials only. */
  grantTypes?: string[];
}

/** A client entry for the config, with a fresh generated secret unless one is given. */
export function testClient(id: string, scopes: string[], extra: Partial<TestClient> = {}): TestClient {
  return { id, secret: extra.secret ?? generateSecret("client_secret"), scopes, ...extra };
}

/**
 * Every test server logs at debug level into test-artifacts/logs, so the log
 * audit (test/support/summary-reporter.ts) can search the whole run's logs
 * for secrets, API keys and tokens.
 */
function auditedLogger(): Logger {
  mkdirSync(LOG_DIR, { recursive: true });
  return pino({ level: "debug", base: { service: "tokensmith", pid: process.pid } }, pino.destination({ dest: join(LOG_DIR, `${process.pid}.log`), append: true, sync: true }));
}

export async function startTestServer(
  options: { clients?: TestClient[]; config?: Partial<ConfigInput> } & StartOptions = {},
): Promise<RunningServer> {
  const { clients = [], config = {}, ...start } = options;
  start.logger ??= auditedLogger();
  return startServer(
    parseConfig({
      port: 0,
      logLevel: "silent",
      demoClient: false,
      // Tests fail authentication on purpose many times; the rate-limit tests set their own limits.
      rateLimits: { failuresPerPeer: 1_000_000, failuresPerSubjectAndPeer: 1_000_000, windowSeconds: 60, introspectionsPerSecond: 1_000_000 },
      ...config,
      clients: [
        ...((config.clients as ConfigInput["clients"]) ?? []),
        ...clients.map((client) => ({
          id: client.id,
          secretHashes: [hashSecret(client.secret)],
          scopes: client.scopes,
          audiences: client.audiences ?? [],
          ...(client.tokenLifetimeSeconds ? { tokenLifetimeSeconds: client.tokenLifetimeSeconds } : {}),
          ...(client.grantTypes ? { grantTypes: client.grantTypes } : {}),
        })),
      ],
    }),
    start,
  );
}

export type TransportName = "grpc (HTTP/2)" | "connect JSON (HTTP/1.1)" | "connect binary (HTTP/2)" | "grpc-web (HTTP/1.1)";

/** The wire protocols every RPC test runs through. */
export const transports: Record<TransportName, (baseUrl: string) => Transport> = {
  "grpc (HTTP/2)": (baseUrl) => createGrpcTransport({ baseUrl }),
  "connect JSON (HTTP/1.1)": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  "connect binary (HTTP/2)": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  "grpc-web (HTTP/1.1)": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
};

export function tokenClient(transport: Transport): RpcClient<typeof TokenService> {
  return createClient(TokenService, transport);
}

export function basic(id: string, secret: string): { authorization: string } {
  return { authorization: basicAuthorization(id, secret) };
}

/** An API key presented as the Basic username with an empty password. */
export const apiKeyAuth = (key: string) => basic(key, "");
