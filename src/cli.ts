import { parseArgs } from "node:util";
import { CliFailure, ExitCode } from "./cli/cli-failure.js";
import { apiKeyOf, GRANT_LIFETIME, type ApiKey } from "./domain/api-key.js";
import { clientOf, DEFAULT_GRANT_TYPES, defaultAuthMethods, type Client } from "./domain/client.js";
import { generateSecret, hashSecret, hasValidChecksum } from "./domain/secret-format.js";
import { runtimeWarning } from "./runtime-support.js";
import type { Tracing } from "./observability/tracing-setup.js";

const USAGE = `usage: tokensmith <command> [options]

commands:
  serve [--config FILE] [--tls-cert PEM --tls-key PEM] [--require-tls] [--workers N|auto]
                          run the service (config: FILE or $TOKENSMITH_CONFIG, then environment)
  secret new [--kind client-secret|api-key] [--json]
                          print a fresh secret (or API key) and the hash to put in the config file

  client create|list|get|update|rotate-secret|delete|revoke-tokens
                          manage clients (tokensmith client --help)
  apikey create|list|update|delete
                          manage API keys (tokensmith apikey --help)
  keys list|rotate        list or rotate the signing keys (tokensmith keys --help)
  access-token create|list|revoke
                          named access tokens of a client, shown once (tokensmith access-token --help)
  trusted-issuer create|list|delete
                          trusted external issuers: workload identity federation
                          (tokensmith trusted-issuer --help)
  tenant create|list|get|update|delete
                          manage tenants, as a platform administrator (tokensmith tenant --help)
  token [--scopes a,b] [--json]
                          get a client-credentials access token, for scripts
  audit [--actor ID] [--target T] [--kind K] [--since ISO|15m] [--until ISO] [--limit N]
                          the audit trail, newest first (tokensmith audit --help)

Commands that talk to a server take --url (TOKENSMITH_URL, default http://127.0.0.1:8080),
--client-id (TOKENSMITH_CLIENT_ID) and --client-secret (TOKENSMITH_CLIENT_SECRET); the
client must be allowed the scope tokensmith:admin for client, apikey, keys, access-token,
trusted-issuer and audit, and be a client of the default tenant allowed tokensmith:tenants
for tenant. --tenant ID (TOKENSMITH_TENANT), before or after the command, acts in that
tenant, with a client of it.

exit codes: 0 ok, 1 unexpected failure, 2 usage error, 3 authentication or permission
failure, 4 not found / already exists / invalid input, 5 server unreachable or unavailable
`;

const DEMO_SCOPES = ["demo:read", "demo:write", "token:introspect"];
/** How long a shutdown waits for the last spans to reach the collector (the cluster primary gives a worker 15 s in all). */
const TRACING_FLUSH_TIMEOUT_MS = 5_000;
/** The demo's other credentials: an administrator of the deployment and its tenants (the CLI, the console) and an API key (IssueGrant). */
const DEMO_ADMIN = { id: "demo-admin", scopes: ["tokensmith:admin", "tokensmith:tenants"] } as const;
const DEMO_API_KEY = { name: "demo-backend", scopes: ["passkey:read", "passkey:write"] } as const;

function fail(message: string, exitCode = 2): never {
  process.stderr.write(`tokensmith: ${message}\n`);
  process.exit(exitCode);
}

function secretNew(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: { json: { type: "boolean", default: false }, kind: { type: "string", default: "client-secret" } },
  });
  if (values.kind !== "client-secret" && values.kind !== "api-key") fail(`--kind must be client-secret or api-key, not "${values.kind}"`);
  const isApiKey = values.kind === "api-key";
  const secret = generateSecret(isApiKey ? "api_key" : "client_secret");
  const hash = hashSecret(secret);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ secret, secretHash: hash })}\n`);
    return;
  }
  if (isApiKey) {
    process.stdout.write(
      `api key:      ${secret}\n` +
        `api key hash: ${hash}\n\n` +
        `Give the key to the backend (it is not stored anywhere) and put the hash in the config file:\n` +
        `apiKeys:\n  - name: my-backend\n    keyHash: "${hash}"\n    scopes: [passkey:read]\n`,
    );
    return;
  }
  process.stdout.write(
    `secret:      ${secret}\n` +
      `secret hash: ${hash}\n\n` +
      `Give the secret to the client (it is not stored anywhere) and put the hash in the config file:\n` +
      `clients:\n  - id: my-service\n    secretHashes: ["${hash}"]\n    scopes: [orders:read]\n`,
  );
}

/** The demo's secrets: random each run unless fixed by the environment (the README test, the workers of one run). */
interface DemoSecrets {
  client: string;
  admin: string;
  apiKey: string;
}

function demoBanner(url: string, secrets: DemoSecrets): string {
  return [
    "",
    "No client is configured, so Tokensmith created demo credentials for this run only.",
    "Their secrets are shown once and kept nowhere:",
    `  client_id:     demo`,
    `  client_secret: ${secrets.client}`,
    `  scopes:        ${DEMO_SCOPES.join(" ")}`,
    `  admin client:  ${DEMO_ADMIN.id} (${DEMO_ADMIN.scopes.join(" ")}: the tokensmith CLI, the console at ${url}/console)`,
    `  admin secret:  ${secrets.admin}`,
    `  API key:       ${secrets.apiKey} (${DEMO_API_KEY.name}: grants ${DEMO_API_KEY.scopes.join(" ")})`,
    "",
    "Paste this into your shell for the README's examples:",
    `  export TOKENSMITH_URL=${url} CLIENT_ID=demo CLIENT_SECRET=${secrets.client} API_KEY=${secrets.apiKey} TOKENSMITH_CLIENT_ID=${DEMO_ADMIN.id} TOKENSMITH_CLIENT_SECRET=${secrets.admin}`,
    "",
    "Get a token:",
    `  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -H 'content-type: application/json' -d '{}' \\`,
    `    "$TOKENSMITH_URL/tokensmith.v1.TokenService/IssueClientToken"`,
    "",
    "Get a user-bound grant with the API key:",
    `  curl -s -u "$API_KEY:" -H 'content-type: application/json' -d '{"username":"alice","grants":["passkey:read"]}' \\`,
    `    "$TOKENSMITH_URL/tokensmith.v1.TokenService/IssueGrant"`,
    "",
  ].join("\n");
}

/** The demo client, admin client and API key, with their secrets. */
function demoCredentials(config: { defaultTokenLifetimeSeconds: number }, env: NodeJS.ProcessEnv): { secrets: DemoSecrets; clients: Client[]; apiKeys: ApiKey[] } {
  // A fixed secret must be one `tokensmith secret new` prints: any other would fail every authentication, silently.
  const fixedOrNew = (variable: string, kind: "client_secret" | "api_key"): string => {
    const value = env[variable];
    if (value === undefined) return generateSecret(kind);
    if (!hasValidChecksum(value, kind)) fail(`${variable} must be ${kind === "api_key" ? "an API key printed by `tokensmith secret new --kind api-key`" : "a secret printed by `tokensmith secret new`"}`);
    return value;
  };
  const secrets: DemoSecrets = {
    client: fixedOrNew("TOKENSMITH_DEMO_SECRET", "client_secret"),
    admin: fixedOrNew("TOKENSMITH_DEMO_ADMIN_SECRET", "client_secret"),
    apiKey: fixedOrNew("TOKENSMITH_DEMO_API_KEY", "api_key"),
  };
  const client = (id: string, scopes: readonly string[], secret: string): Client =>
    clientOf(
      { id, scopes, audiences: [] },
      { tokenLifetimeSeconds: config.defaultTokenLifetimeSeconds, tokenEndpointAuthMethods: defaultAuthMethods(false), grantTypes: DEFAULT_GRANT_TYPES, secretHashes: [hashSecret(secret)], source: "demo" },
    );
  return {
    secrets,
    clients: [client("demo", DEMO_SCOPES, secrets.client), client(DEMO_ADMIN.id, DEMO_ADMIN.scopes, secrets.admin)],
    apiKeys: [apiKeyOf({ name: DEMO_API_KEY.name, scopes: DEMO_API_KEY.scopes, keyHash: hashSecret(secrets.apiKey), grantLifetimeSeconds: GRANT_LIFETIME.defaultSeconds }, "config")],
  };
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "require-tls": { type: "boolean" },
      workers: { type: "string" },
    },
  });
  // Loaded here, not at the top: the admin commands start faster without the server's modules.
  const { ConfigError, loadConfig } = await import("./config.js");
  const { startServer } = await import("./server.js");
  const { isWorkerProcess, superviseWorkers } = await import("./worker-cluster.js");
  // Flags win over the environment, which wins over the file.
  const env = { ...process.env };
  if (values["tls-cert"]) env.TOKENSMITH_TLS_CERT = values["tls-cert"];
  if (values["tls-key"]) env.TOKENSMITH_TLS_KEY = values["tls-key"];
  if (values["require-tls"]) env.TOKENSMITH_REQUIRE_TLS = "true";
  if (values.workers) env.TOKENSMITH_WORKERS = values.workers;
  let config;
  try {
    config = loadConfig(env, values.config ?? process.env.TOKENSMITH_CONFIG);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  let demo: ReturnType<typeof demoCredentials> | undefined;
  // A demo client is a fixed-scope credential printed to stdout: fine for a first try on a laptop,
  // not in production or on a shared Redis, where every instance would take one.
  const noDemoBecause = config.production ? "production mode" : config.store.type === "redis" ? "the Redis store" : undefined;
  const noDemoNotice =
    config.clients.length === 0 && config.demoClient && noDemoBecause !== undefined
      ? `no demo client with ${noDemoBecause}: declare a client in the config file (\`tokensmith secret new\` prints a secret, its hash and a config snippet), give one tokensmith:admin to create more with \`tokensmith client create\``
      : undefined;
  // With workers, the primary makes the demo secrets once and hands them to every worker.
  if (config.clients.length === 0 && config.demoClient && noDemoBecause === undefined) demo = demoCredentials(config, process.env);
  if (config.workers > 1 && !isWorkerProcess()) {
    superviseWorkers({
      count: config.workers,
      env: {
        ...env,
        ...(demo ? { TOKENSMITH_DEMO_SECRET: demo.secrets.client, TOKENSMITH_DEMO_ADMIN_SECRET: demo.secrets.admin, TOKENSMITH_DEMO_API_KEY: demo.secrets.apiKey } : {}),
      } as Record<string, string>,
      log: (message) => process.stderr.write(`tokensmith: ${message}\n`),
    });
    if (noDemoNotice !== undefined) process.stderr.write(`tokensmith: ${noDemoNotice}\n`);
    if (demo !== undefined) {
      const host = config.host.includes(":") ? `[${config.host}]` : config.host;
      process.stdout.write(`${demoBanner(`${config.tls ? "https" : "http"}://${host}:${config.port}`, demo.secrets)}\n`);
    }
    return;
  }
  // Signal handlers go in before the server starts: a supervisor may send SIGTERM the
  // moment the "listening" line is out, and without a handler Node would die at once.
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let stopSignal: string | undefined;
  let tracing: Tracing | undefined;
  const shutDown = async (running: NonNullable<typeof server>, signal: string) => {
    running.domain.logger.info({ signal }, "shutting down");
    await running.close();
    // The spans of the last requests are still batched: export them before exiting.
    await tracing?.shutdown(TRACING_FLUSH_TIMEOUT_MS);
    process.exit(0);
  };
  const stop = async (signal: string) => {
    if (stopSignal !== undefined) return;
    stopSignal = signal;
    // Still starting: the code after startServer stops it.
    if (server === undefined) return;
    await shutDown(server, signal);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // OpenTelemetry only when an OTLP endpoint is configured: otherwise its SDK is not even loaded. Each worker sets up its own.
  const { startTracing, tracingRequested } = await import("./observability/tracing-setup.js");
  if (tracingRequested(env)) tracing = await startTracing();
  try {
    server = await startServer(config, { extraClients: demo?.clients ?? [], extraApiKeys: demo?.apiKeys ?? [], tracer: tracing?.tracer });
  } catch (error) {
    // Some configuration is only checked against the store (production without a KEK on Redis): still exit code 2.
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  tracing?.logTo(server.domain.logger);
  if (stopSignal !== undefined) await shutDown(server, stopSignal);
  if (demo !== undefined && !isWorkerProcess()) process.stdout.write(`${demoBanner(server.url, demo.secrets)}\n`);
  if (noDemoNotice !== undefined && !isWorkerProcess()) server.domain.logger.warn(noDemoNotice);
  const outdated = runtimeWarning(process.versions.node);
  if (outdated !== undefined && !isWorkerProcess()) server.domain.logger.warn({ node: process.versions.node }, outdated);
}

/** The admin and token commands: each module runs a command and returns what to print. */
const REMOTE_COMMANDS: Record<string, () => Promise<{ run(args: string[], env: NodeJS.ProcessEnv): Promise<string>; usage: string }>> = {
  client: async () => {
    const { runClientCommand, CLIENT_USAGE } = await import("./cli/client-commands.js");
    return { run: runClientCommand, usage: CLIENT_USAGE };
  },
  apikey: async () => {
    const { runApiKeyCommand, API_KEY_USAGE } = await import("./cli/api-key-commands.js");
    return { run: runApiKeyCommand, usage: API_KEY_USAGE };
  },
  keys: async () => {
    const { runSigningKeyCommand, SIGNING_KEY_USAGE } = await import("./cli/signing-key-commands.js");
    return { run: runSigningKeyCommand, usage: SIGNING_KEY_USAGE };
  },
  "access-token": async () => {
    const { runAccessTokenCommand, ACCESS_TOKEN_USAGE } = await import("./cli/access-token-commands.js");
    return { run: runAccessTokenCommand, usage: ACCESS_TOKEN_USAGE };
  },
  "trusted-issuer": async () => {
    const { runTrustedIssuerCommand, TRUSTED_ISSUER_USAGE } = await import("./cli/trusted-issuer-commands.js");
    return { run: runTrustedIssuerCommand, usage: TRUSTED_ISSUER_USAGE };
  },
  tenant: async () => {
    const { runTenantCommand, TENANT_USAGE } = await import("./cli/tenant-commands.js");
    return { run: runTenantCommand, usage: TENANT_USAGE };
  },
  token: async () => {
    const { runTokenCommand, TOKEN_USAGE } = await import("./cli/token-command.js");
    return { run: runTokenCommand, usage: TOKEN_USAGE };
  },
  audit: async () => {
    const { runAuditCommand, AUDIT_USAGE } = await import("./cli/audit-command.js");
    return { run: runAuditCommand, usage: AUDIT_USAGE };
  },
};

/** Writes everything, then exits: keep-alive sockets must not hold the process open. */
function finish(stream: NodeJS.WriteStream, text: string, exitCode: number): Promise<never> {
  return new Promise(() => {
    stream.write(text, () => process.exit(exitCode));
  });
}

async function remote(command: string, args: string[]): Promise<void> {
  const { run, usage } = await REMOTE_COMMANDS[command]!();
  if (args.includes("--help") || args.includes("-h") || args[0] === "help") return finish(process.stdout, usage, ExitCode.ok);
  try {
    const output = await run(args, process.env);
    return await finish(process.stdout, output, ExitCode.ok);
  } catch (error) {
    if (!(error instanceof CliFailure)) throw error;
    const text = `tokensmith ${command}: ${error.message}\n${error.usage === undefined ? "" : `\n${error.usage}`}`;
    return finish(process.stderr, text, error.exitCode);
  }
}

/** `--tenant ID` (or `--tenant=ID`) given before the command goes to the command, which reads it with its own flags. */
function globalFlagsLast(argv: string[]): string[] {
  const first = argv[0];
  if (first === "--tenant" && argv.length >= 2) return [...argv.slice(2), "--tenant", argv[1]!];
  if (first?.startsWith("--tenant=")) return [...argv.slice(1), first];
  return argv;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = globalFlagsLast(argv);
  if (command !== undefined && Object.hasOwn(REMOTE_COMMANDS, command)) return remote(command, rest);
  switch (command) {
    case "serve":
      return serve(rest);
    case "secret":
      if (rest[0] === "new") return secretNew(rest.slice(1));
      return fail(`unknown secret command "${rest[0] ?? ""}"\n${USAGE}`);
    case undefined:
      return fail(`no command given\n${USAGE}`);
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    default:
      fail(`unknown command "${command}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error), 1);
});
