import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.js";
import type { Client } from "./domain/client.js";
import { generateSecret, hashSecret } from "./domain/secret-format.js";
import { startServer } from "./server.js";

const USAGE = `usage: tokensmith <command> [options]

commands:
  serve [--config FILE]   run the service (config: FILE or $TOKENSMITH_CONFIG, then environment)
  secret new [--kind client-secret|api-key] [--json]
                          print a fresh secret (or API key) and the hash to put in the config file
`;

const DEMO_SCOPES = ["demo:read", "demo:write", "token:introspect"];

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

function demoBanner(url: string, id: string, secret: string): string {
  return [
    "",
    "No client is configured, so Tokensmith created a demo client for this run only.",
    "Its secret is shown once and kept nowhere:",
    `  client_id:     ${id}`,
    `  client_secret: ${secret}`,
    `  scopes:        ${DEMO_SCOPES.join(" ")}`,
    "",
    "Get a token:",
    `  curl -s -u '${id}:${secret}' -H 'content-type: application/json' -d '{}' \\`,
    `    ${url}/tokensmith.v1.TokenService/IssueClientToken`,
    "",
  ].join("\n");
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: "string" } } });
  let config;
  try {
    config = loadConfig(process.env, values.config ?? process.env.TOKENSMITH_CONFIG);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const extraClients: Client[] = [];
  let demoSecret: string | undefined;
  if (config.clients.length === 0 && config.demoClient) {
    demoSecret = generateSecret("client_secret");
    extraClients.push({
      id: "demo",
      secretHashes: [hashSecret(demoSecret)],
      scopes: DEMO_SCOPES,
      audiences: [],
      tokenLifetimeSeconds: config.defaultTokenLifetimeSeconds,
      source: "demo",
    });
  }
  const server = await startServer(config, { extraClients });
  if (demoSecret !== undefined) process.stdout.write(`${demoBanner(server.url, "demo", demoSecret)}\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.domain.logger.info({ signal }, "shutting down");
    await server.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return serve(rest);
    case "secret":
      if (rest[0] === "new") return secretNew(rest.slice(1));
      return fail(`unknown secret command "${rest[0] ?? ""}"\n${USAGE}`);
    case undefined:
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
