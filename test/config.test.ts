import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../src/config.js";
import { clientsFromConfig } from "../src/app.js";
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
    // Audiences are shown to administrators (tokensmith client get): no escape sequence or bidi override, as the AdminService refuses.
    ["a client audience with an escape sequence", { clients: [client({ audiences: ["https://api.test\u001b[2J"] })] }, ["clients.0.audiences.0"]],
    ["a client audience with a bidi override", { clients: [client({ audiences: ["https://api.test/\u202etxt"] })] }, ["clients.0.audiences.0"]],
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

  // Issue 16: a client's jwks_uri is fetched by the server, so by default only https to public addresses.
  const keyClient = (jwksUri: string) => ({ clients: [{ id: "key-client", jwksUri, scopes: [] }] });
  it.each([
    ["an http jwks_uri", "http://keys.example/jwks.json", /clients\.0\.jwksUri: jwks_uri must be an https URL \(clientJwksUris\.allowHttp is off\)/],
    ["a jwks_uri on 127.0.0.1", "https://127.0.0.1/jwks.json", /clients\.0\.jwksUri: .*internal address \(clientJwksUris\.allowPrivateNetworks is off\)/],
    ["a jwks_uri on 0.0.0.0", "https://0.0.0.0/jwks.json", /clients\.0\.jwksUri: .*internal address/],
    ["a jwks_uri on a CGNAT address", "https://100.64.1.1/jwks.json", /clients\.0\.jwksUri: .*internal address/],
    ["a jwks_uri on ::1", "https://[::1]:8443/jwks.json", /clients\.0\.jwksUri: .*internal address/],
    ["a jwks_uri on an IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/jwks.json", /clients\.0\.jwksUri: .*internal address/],
    ["a jwks_uri on a link-local IPv6 address", "https://[fe80::1]/jwks.json", /clients\.0\.jwksUri: .*internal address/],
  ])("%s", (_case, jwksUri, message) => {
    expect(configError(() => parseConfig(keyClient(jwksUri))).message).toMatch(message);
  });

  it("clientJwksUris opens http and internal addresses, each on its own", () => {
    expect(parseConfig({ ...keyClient("http://keys.example/jwks.json"), clientJwksUris: { allowHttp: true } }).clients[0]!.jwksUri).toBe(
      "http://keys.example/jwks.json",
    );
    expect(configError(() => parseConfig({ ...keyClient("http://127.0.0.1/jwks.json"), clientJwksUris: { allowHttp: true } })).message).toMatch(
      /internal address/,
    );
    const internal = parseConfig({ ...keyClient("https://10.0.0.7/jwks.json"), clientJwksUris: { allowPrivateNetworks: true } });
    expect(internal.clients[0]!.jwksUri).toBe("https://10.0.0.7/jwks.json");
    expect(parseConfig(keyClient("https://keys.example/jwks.json")).clientJwksUris).toEqual({ allowHttp: false, allowPrivateNetworks: false });
  });

  // Issue 16, item 8: a client authenticates only by its registered methods.
  const jwks = { keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] };
  it.each([
    ["secretHashes with keys and the default methods (private_key_jwt only)", client({ jwks }), /clients\.0\.tokenEndpointAuthMethods: secretHashes are set but no client_secret_\* method/],
    ["private_key_jwt without keys", client({ tokenEndpointAuthMethods: ["private_key_jwt", "client_secret_basic"] }), /clients\.0\.tokenEndpointAuthMethods: private_key_jwt needs jwks or jwksUri/],
    ["a secret method without secretHashes", { id: "k", jwks, tokenEndpointAuthMethods: ["private_key_jwt", "client_secret_post"] }, /clients\.0\.tokenEndpointAuthMethods: client_secret_post needs secretHashes/],
    ["an unknown method", client({ tokenEndpointAuthMethods: ["client_secret_jwt"] }), /clients\.0\.tokenEndpointAuthMethods\.0/],
    ["a method twice", client({ tokenEndpointAuthMethods: ["client_secret_basic", "client_secret_basic"] }), /more than once/],
    ["no method", client({ tokenEndpointAuthMethods: [] }), /clients\.0\.tokenEndpointAuthMethods/],
  ])("tokenEndpointAuthMethods: %s", (_case, entry, message) => {
    expect(configError(() => parseConfig({ clients: [entry] })).message).toMatch(message);
  });

  // Issue 20, item 1: grant types by their RFC 7591 names.
  it.each([
    ["an unknown grant type", client({ grantTypes: ["password"] }), /clients\.0\.grantTypes\.0/],
    ["a grant type twice", client({ grantTypes: ["client_credentials", "client_credentials"] }), /clients\.0\.grantTypes: names a grant type more than once/],
    ["no grant type", client({ grantTypes: [] }), /clients\.0\.grantTypes/],
  ])("grantTypes: %s", (_case, entry, message) => {
    expect(configError(() => parseConfig({ clients: [entry] })).message).toMatch(message);
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
    ["TOKENSMITH_SHUTDOWN_DELAY_SECONDS=soon", { TOKENSMITH_SHUTDOWN_DELAY_SECONDS: "soon" }, ["TOKENSMITH_SHUTDOWN_DELAY_SECONDS", "soon"]],
    ["TOKENSMITH_SHUTDOWN_DELAY_SECONDS=-1", { TOKENSMITH_SHUTDOWN_DELAY_SECONDS: "-1" }, ["TOKENSMITH_SHUTDOWN_DELAY_SECONDS"]],
    ["TOKENSMITH_SHUTDOWN_DELAY_SECONDS=61", { TOKENSMITH_SHUTDOWN_DELAY_SECONDS: "61" }, ["shutdownDelaySeconds"]],
    ["TOKENSMITH_SHUTDOWN_GRACE_SECONDS=1.5", { TOKENSMITH_SHUTDOWN_GRACE_SECONDS: "1.5" }, ["TOKENSMITH_SHUTDOWN_GRACE_SECONDS", "1.5"]],
    ["TOKENSMITH_SHUTDOWN_GRACE_SECONDS=301", { TOKENSMITH_SHUTDOWN_GRACE_SECONDS: "301" }, ["shutdownGraceSeconds"]],
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

describe("every token lifetime stays within maxTokenLifetimeSeconds (issue 16, item 9)", () => {
  // A rotated-out signing key stays published maxTokenLifetimeSeconds: a longer-lived token would stop verifying early.
  it.each([
    [
      "a client's tokenLifetimeSeconds",
      { maxTokenLifetimeSeconds: 600, clients: [client({ id: "a" }), client({ id: "b" }), client({ id: "c", tokenLifetimeSeconds: 86_400 })] },
      "clients.2.tokenLifetimeSeconds: 86400 exceeds maxTokenLifetimeSeconds (600)",
    ],
    [
      "defaultTokenLifetimeSeconds",
      { maxTokenLifetimeSeconds: 600, defaultTokenLifetimeSeconds: 3600 },
      "defaultTokenLifetimeSeconds: 3600 exceeds maxTokenLifetimeSeconds (600)",
    ],
  ])("%s above the maximum is refused at start-up, naming the field", (_case, input, line) => {
    expect(configError(() => parseConfig(input)).message).toContain(line);
  });

  it("a lifetime equal to the maximum is accepted", () => {
    const config = parseConfig({ maxTokenLifetimeSeconds: 600, defaultTokenLifetimeSeconds: 600, clients: [client({ tokenLifetimeSeconds: 600 })] });
    expect(config.clients[0]!.tokenLifetimeSeconds).toBe(600);
  });

  it("an unset default follows a lower maximum instead of refusing the config", () => {
    expect(parseConfig({ maxTokenLifetimeSeconds: 600 }).defaultTokenLifetimeSeconds).toBe(600);
    expect(parseConfig({ maxTokenLifetimeSeconds: 7200 }).defaultTokenLifetimeSeconds).toBe(3600);
  });

  it("API key grant lifetimes are held to the grants' own cap (300 s), not to maxTokenLifetimeSeconds: grants are opaque, no signing key is involved", () => {
    const key = { name: "k", keyHash: hash, scopes: ["a:b"] };
    expect(parseConfig({ maxTokenLifetimeSeconds: 60, apiKeys: [{ ...key, grantLifetimeSeconds: 300 }] }).apiKeys[0]!.grantLifetimeSeconds).toBe(300);
    expect(configError(() => parseConfig({ apiKeys: [{ ...key, grantLifetimeSeconds: 301 }] })).message).toContain("apiKeys.0.grantLifetimeSeconds");
  });
});

describe("publicScopes: the scopes the RFC 8414 metadata shows anyone (issue 16, item 10b)", () => {
  it("default to none", () => {
    expect(parseConfig({}).publicScopes).toEqual([]);
  });

  it.each(["tokensmith:admin", "token:delete", "token:introspect", "tokensmith:anything"])("refuse Tokensmith's own privileged scope %s, naming the field", (scope) => {
    const error = configError(() => parseConfig({ publicScopes: ["orders:read", scope] }));
    expect(error.message).toContain("publicScopes.1");
    expect(error.message).toContain(scope);
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
      http2: { idleTimeoutSeconds: 10, maxSessions: 10_000, maxSessionsPerPeer: 100, rapidResetAllowance: 100, rapidResetBanSeconds: 10 },
    });
  });

  it("answer unary Connect and gRPC calls on the fast path; TOKENSMITH_RPC_FAST_PATH=false (or 0, off) sends them through connect-node", () => {
    expect(parseConfig({}).rpcFastPath).toBe(true);
    for (const off of ["false", "0", "off", " OFF "]) expect(loadConfig({ TOKENSMITH_RPC_FAST_PATH: off }).rpcFastPath, off).toBe(false);
    expect(loadConfig({ TOKENSMITH_RPC_FAST_PATH: "true" }).rpcFastPath).toBe(true);
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
    expect(clientsFromConfig(config)[0]!.grantTypes).toEqual(["client_credentials"]);
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
    ["TOKENSMITH_SHUTDOWN_DELAY_SECONDS", "5", { shutdownDelaySeconds: 5 }],
    ["TOKENSMITH_SHUTDOWN_DELAY_SECONDS", "0", { shutdownDelaySeconds: 0 }],
    ["TOKENSMITH_SHUTDOWN_GRACE_SECONDS", "20", { shutdownGraceSeconds: 20 }],
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

describe("trustedIssuers (issue 20, item 3)", () => {
  const jwk = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "k1" };
  const trusted = (overrides: Record<string, unknown> = {}) => ({
    issuer: "https://kubernetes.default.svc",
    jwks: { keys: [jwk] },
    audiences: ["tokensmith"],
    subjectMapping: [{ subject: "system:serviceaccount:payments:api", clientId: "payments-api" }],
    ...overrides,
  });
  const federated = { id: "payments-api", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["payments:charge"] };

  it("accepts an issuer with inline keys, and a client registered for federated_jwt with no secret nor keys", () => {
    const config = parseConfig({ clients: [federated], trustedIssuers: [trusted({ subjectMapping: [{ subject: "repo:org/app:*", clientId: "payments-api", claims: { repository_owner: "org", ref_protected: true } }] })] });
    expect(config.trustedIssuers[0]).toMatchObject({ issuer: "https://kubernetes.default.svc", audiences: ["tokensmith"] });
    expect(clientsFromConfig(config)[0]).toMatchObject({ id: "payments-api", secretHashes: [], tokenEndpointAuthMethods: ["federated_jwt"] });
  });

  it("a jwksUri is held to the clientJwksUris policy: loopback only when allowed explicitly", () => {
    const onLoopback = { trustedIssuers: [trusted({ jwks: undefined, jwksUri: "http://127.0.0.1:9000/jwks.json" })] };
    expect(configError(() => parseConfig(onLoopback)).message).toMatch(/trustedIssuers\.0\.jwksUri: jwks_uri must be an https URL/);
    expect(configError(() => parseConfig({ ...onLoopback, clientJwksUris: { allowHttp: true } })).message).toMatch(/trustedIssuers\.0\.jwksUri: .*internal address/);
    expect(parseConfig({ ...onLoopback, clientJwksUris: { allowHttp: true, allowPrivateNetworks: true } }).trustedIssuers[0]!.jwksUri).toBe("http://127.0.0.1:9000/jwks.json");
    const inTenant = { tenants: [{ id: "acme", trustedIssuers: [trusted({ jwks: undefined, jwksUri: "https://10.0.0.1/jwks.json" })] }] };
    expect(configError(() => parseConfig(inTenant)).message).toMatch(/tenants\.0\.trustedIssuers\.0\.jwksUri: .*internal address/);
  });

  it.each([
    ["neither jwks nor jwksUri", { trustedIssuers: [trusted({ jwks: undefined })] }, "trustedIssuers.0.jwksUri"],
    ["both jwks and jwksUri", { trustedIssuers: [trusted({ jwksUri: "https://keys.example/jwks.json" })] }, "trustedIssuers.0.jwksUri"],
    ["a private key in jwks", { trustedIssuers: [trusted({ jwks: { keys: [{ ...jwk, d: "secret" }] } })] }, "trustedIssuers.0.jwks"],
    ["no audiences", { trustedIssuers: [trusted({ audiences: [] })] }, "trustedIssuers.0.audiences"],
    ["no subject mapping", { trustedIssuers: [trusted({ subjectMapping: [] })] }, "trustedIssuers.0.subjectMapping"],
    ["a bare * subject", { trustedIssuers: [trusted({ subjectMapping: [{ subject: "*", clientId: "x" }] })] }, "trustedIssuers.0.subjectMapping.0.subject"],
    ["a claim condition that is an object", { trustedIssuers: [trusted({ subjectMapping: [{ subject: "s", clientId: "x", claims: { a: { b: 1 } } }] })] }, "trustedIssuers.0.subjectMapping.0.claims"],
    // The config is JSON: JSON.parse makes "__proto__" an own member, which schema parsing dropped, leaving a mapping without that condition.
    ["a claim condition named __proto__", { trustedIssuers: [trusted({ subjectMapping: [{ subject: "s", clientId: "x", claims: JSON.parse('{"__proto__": "x"}') }] })] }, "trustedIssuers.0.subjectMapping.0.claims"],
    ["the same issuer twice", { trustedIssuers: [trusted(), trusted()] }, "trustedIssuers"],
    ["a client with no way to authenticate (no federated_jwt)", { clients: [{ id: "nothing", scopes: [] }] }, "clients.0"],
  ])("refuses %s", (_case, input, named) => {
    expect(configError(() => parseConfig(input)).message).toContain(named);
  });
});
