import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../src/config.js";
import { generateSecret, hashSecret } from "../src/domain/secret-format.js";

/**
 * Configuration: an optional YAML or JSON file, environment variables on
 * top, validated once at start-up. Every bad field is named in the error.
 */

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokensmith-config-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but the configuration was accepted");
}

const hash = hashSecret(generateSecret("client_secret"));
const client = (extra: Record<string, unknown> = {}) => ({ id: "orders-service", secretHashes: [hash], scopes: ["orders:read"], ...extra });

describe("a bad configuration is refused, naming every bad field", () => {
  const plainSecret = generateSecret("client_secret");

  it.each([
    ["a port that is not a number", { port: "abc" }, ["port"]],
    ["a port out of range", { port: 70_000 }, ["port"]],
    ["an unknown top-level key", { colour: "blue" }, ['"colour"']],
    ["an unknown key in a client", { clients: [client({ secret: "x" })] }, ["clients.0", '"secret"']],
    ["a plain secret instead of a hash", { clients: [client({ secretHashes: [plainSecret] })] }, ["clients.0.secretHashes.0"]],
    [
      "a duplicate client id",
      { clients: [client(), client({ scopes: ["orders:write"] })] },
      ["clients.1.id", "orders-service"],
    ],
    ["a malformed scope on a client", { clients: [client({ scopes: ["orders read"] })] }, ["clients.0.scopes.0"]],
    ["a client lifetime over a day", { clients: [client({ tokenLifetimeSeconds: 86_401 })] }, ["clients.0.tokenLifetimeSeconds"]],
    ["a redis store without url", { store: { type: "redis" } }, ["store", "url"]],
    ["an unknown store type", { store: { type: "etcd" } }, ["store.type"]],
    ["an unknown log level", { logLevel: "loud" }, ["logLevel"]],
    ["an unsupported signing algorithm", { signingAlgorithm: "HS256" }, ["signingAlgorithm"]],
    ["negative signing threads", { signingThreads: -1 }, ["signingThreads"]],
    ["a fractional number of signing threads", { signingThreads: 1.5 }, ["signingThreads"]],
    ["an issuer that is not a URL", { issuer: "tokensmith" }, ["issuer"]],
    ["tls without keyFile", { tls: { certFile: "c.pem" } }, ["tls.keyFile"]],
    ["two bad fields at once", { port: -1, logLevel: "loud" }, ["port", "logLevel"]],
    ["a trusted proxy that is not an address", { trustProxy: ["10.0.0.1", "proxy.internal"] }, ["trustProxy.1"]],
    ["an IPv4 CIDR prefix over 32", { trustProxy: ["10.0.0.0/33"] }, ["trustProxy.0"]],
    ["an IPv6 CIDR prefix over 128", { trustProxy: ["2001:db8::/129"] }, ["trustProxy.0"]],
    ["an unknown forwarding header", { forwardedHeader: "x-real-ip" }, ["forwardedHeader"]],
  ])("%s", (_case, input, named) => {
    const error = configError(() => parseConfig(input));
    for (const field of named) expect(error.message).toContain(field);
  });

  it("does not echo a plain secret put where its hash belongs", () => {
    const error = configError(() => parseConfig({ clients: [client({ secretHashes: [plainSecret] })] }));
    expect(error.message).toMatch(/hash/i);
    expect(error.message).not.toContain(plainSecret);
  });

  it.each([
    ["TOKENSMITH_PORT=abc", { TOKENSMITH_PORT: "abc" }, ["TOKENSMITH_PORT", "abc"]],
    ["TOKENSMITH_PORT=-1", { TOKENSMITH_PORT: "-1" }, ["TOKENSMITH_PORT"]],
    ["TOKENSMITH_PORT=99999", { TOKENSMITH_PORT: "99999" }, ["port"]],
    ["TOKENSMITH_LOG_LEVEL=loud", { TOKENSMITH_LOG_LEVEL: "loud" }, ["logLevel"]],
    ["TOKENSMITH_SIGNING_ALG=RS256", { TOKENSMITH_SIGNING_ALG: "RS256" }, ["signingAlgorithm"]],
    ["TOKENSMITH_TLS_CERT without TOKENSMITH_TLS_KEY", { TOKENSMITH_TLS_CERT: "/c.pem" }, ["tls.keyFile"]],
  ])("from the environment: %s", (_case, env, named) => {
    const error = configError(() => loadConfig(env));
    for (const field of named) expect(error.message).toContain(field);
  });

  it("names the file and the field when the file has an unknown key", async () => {
    const path = await file("unknown-key.yaml", "port: 9000\nlisten_address: 0.0.0.0\n");
    const error = configError(() => loadConfig({}, path));
    expect(error.message).toContain(path);
    expect(error.message).toContain('"listen_address"');
  });

  it("says clearly that a missing config file cannot be read, naming it", () => {
    const path = join(dir, "does-not-exist.yaml");
    const error = configError(() => loadConfig({}, path));
    expect(error.message).toContain("cannot read config file");
    expect(error.message).toContain(path);
  });

  it.each([
    ["invalid YAML", "broken.yaml", "port: [9000\n"],
    ["invalid JSON", "broken.json", '{"port": 9000,'],
    ["a top-level list", "list.yaml", "- port: 9000\n"],
    ["a top-level scalar", "scalar.json", "42"],
  ])("refuses a config file with %s, naming it", async (_case, name, content) => {
    const path = await file(name, content);
    const error = configError(() => loadConfig({}, path));
    expect(error.message).toContain("cannot parse config file");
    expect(error.message).toContain(path);
  });
});

describe("defaults", () => {
  it("listens on 127.0.0.1:8080 with the memory store, EdDSA and one-hour tokens", () => {
    expect(parseConfig({})).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      store: { type: "memory" },
      logLevel: "info",
      signingAlgorithm: "EdDSA",
      signingThreads: 1,
      defaultTokenLifetimeSeconds: 3600,
      clients: [],
      demoClient: true,
    });
  });

  it("trusts no proxy, and bounds HTTP/2 sessions: 10 s idle, 10,000 in all, 100 per peer, 100 resets ahead", () => {
    expect(parseConfig({})).toMatchObject({
      trustProxy: false,
      forwardedHeader: "x-forwarded-for",
      http2: { idleTimeoutSeconds: 10, maxSessions: 10_000, maxSessionsPerPeer: 100, rapidResetAllowance: 100 },
    });
  });

  it("are what loadConfig gives without a file or environment", () => {
    expect(loadConfig({})).toEqual(parseConfig({}));
  });

  it("treats an empty config file as all defaults", async () => {
    const path = await file("empty.yaml", "");
    expect(loadConfig({}, path)).toEqual(parseConfig({}));
  });

  it("fills the optional fields of a client", () => {
    const config = parseConfig({ clients: [{ id: "c", secretHashes: [hash] }] });
    expect(config.clients[0]).toMatchObject({ id: "c", secretHashes: [hash], scopes: [], audiences: [] });
  });
});

describe("config files", () => {
  const expected = {
    host: "0.0.0.0",
    port: 9000,
    signingAlgorithm: "ES256",
    clients: [{ id: "orders-service", secretHashes: [hash], scopes: ["orders:read"], audiences: ["https://api.test"] }],
  };

  it.each([
    [
      "YAML (.yaml)",
      "config.yaml",
      `host: 0.0.0.0\nport: 9000\nsigningAlgorithm: ES256\nclients:\n  - id: orders-service\n    secretHashes: ["${hash}"]\n    scopes: [orders:read]\n    audiences: [https://api.test]\n`,
    ],
    [
      "YAML (.yml)",
      "config.yml",
      `host: 0.0.0.0\nport: 9000\nsigningAlgorithm: ES256\nclients:\n  - id: orders-service\n    secretHashes:\n      - "${hash}"\n    scopes:\n      - orders:read\n    audiences:\n      - https://api.test\n`,
    ],
    ["JSON", "config.json", JSON.stringify(expected)],
  ])("reads %s", async (_case, name, content) => {
    const path = await file(name, content);
    expect(loadConfig({}, path)).toMatchObject(expected);
  });

  it("is found through TOKENSMITH_CONFIG when no path is given", async () => {
    const path = await file("from-env.yaml", "port: 9001\n");
    expect(loadConfig({ TOKENSMITH_CONFIG: path }).port).toBe(9001);
  });
});

describe("environment variables override the file", () => {
  let path: string;

  beforeAll(async () => {
    path = await file(
      "base.yaml",
      [
        "host: 10.0.0.1",
        "port: 9000",
        "issuer: https://file.test",
        "dataDir: /var/lib/from-file",
        "logLevel: warn",
        "signingAlgorithm: EdDSA",
        "tls: { certFile: /file/c.pem, keyFile: /file/k.pem }",
      ].join("\n"),
    );
  });

  it.each([
    ["TOKENSMITH_HOST", "0.0.0.0", { host: "0.0.0.0" }],
    ["TOKENSMITH_PORT", "9100", { port: 9100 }],
    ["TOKENSMITH_PORT", "0", { port: 0 }],
    ["TOKENSMITH_ISSUER", "https://env.test", { issuer: "https://env.test" }],
    ["TOKENSMITH_DATA_DIR", "/var/lib/from-env", { dataDir: "/var/lib/from-env" }],
    ["TOKENSMITH_LOG_LEVEL", "debug", { logLevel: "debug" }],
    ["TOKENSMITH_SIGNING_ALG", "ES256", { signingAlgorithm: "ES256" }],
    ["TOKENSMITH_SIGNING_THREADS", "0", { signingThreads: 0 }],
    ["TOKENSMITH_SIGNING_THREADS", "4", { signingThreads: 4 }],
    ["REDIS_URL", "redis://redis.test:6379", { store: { type: "redis", url: "redis://redis.test:6379" } }],
    ["TOKENSMITH_TRUST_PROXY", "true", { trustProxy: true }],
    ["TOKENSMITH_TRUST_PROXY", "10.0.0.0/8, 192.0.2.1", { trustProxy: ["10.0.0.0/8", "192.0.2.1"] }],
  ])("%s=%s", (name, value, override) => {
    const fromFile = loadConfig({}, path);
    const config = loadConfig({ [name]: value }, path);
    expect(config).toMatchObject(override);
    // Everything else still comes from the file.
    const untouched = Object.keys(fromFile).filter((key) => !(key in override));
    for (const key of untouched) expect(config[key as keyof typeof config], key).toEqual(fromFile[key as keyof typeof fromFile]);
  });

  it("TOKENSMITH_TLS_CERT and TOKENSMITH_TLS_KEY replace the file's tls", () => {
    const config = loadConfig({ TOKENSMITH_TLS_CERT: "/env/c.pem", TOKENSMITH_TLS_KEY: "/env/k.pem" }, path);
    expect(config.tls).toEqual({ certFile: "/env/c.pem", keyFile: "/env/k.pem" });
  });

  it("ignores an empty variable", () => {
    expect(loadConfig({ TOKENSMITH_PORT: "", TOKENSMITH_HOST: "" }, path)).toMatchObject({ host: "10.0.0.1", port: 9000 });
  });

  it("an explicit path wins over TOKENSMITH_CONFIG", async () => {
    const other = await file("other.yaml", "port: 9500\n");
    expect(loadConfig({ TOKENSMITH_CONFIG: other }, path).port).toBe(9000);
  });
});
