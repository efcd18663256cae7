import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { containsSecret, isSecretHash } from "./domain/secret-format.js";
import { isScopeToken } from "./domain/scopes.js";
import { GRANT_LIFETIME, type ApiKey, type ApiKeySettings } from "./domain/api-key.js";
import { ADMIN_SCOPE } from "./domain/scopes.js";
import { INTROSPECT_SCOPE } from "./domain/introspection.js";
import { REVOKE_SCOPE } from "./domain/revocation.js";
import { checkJwksUri, JwksUriError } from "./domain/jwks-uri-policy.js";
import { hasTerminalControls } from "./domain/terminal-controls.js";
import { CLIENT_AUTH_METHODS, GRANT_TYPES, registeredAuthMethods, TOKEN_LIFETIME_LIMIT_SECONDS, usesSecret, type ClientSettings } from "./domain/client.js";

const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;
import { parseAddressRange } from "./http/client-address.js";
import { isOrigin } from "./http/cors.js";

const scope = z.string().refine(isScopeToken, { message: "not a valid scope token (RFC 6749 §3.3)" });
/** Scopes that give power over Tokensmith itself: never advertised to anonymous callers. */
const isPrivilegedScope = (value: string) => value.startsWith("tokensmith:") || value === INTROSPECT_SCOPE || value === REVOKE_SCOPE || value === ADMIN_SCOPE;
const publicScope = scope.refine((value) => !isPrivilegedScope(value), {
  error: (issue) => `${String(issue.input)} is one of Tokensmith's own privileged scopes (tokensmith:*, token:introspect, token:delete): it cannot be public`,
});
const secretHash = z.string().refine(isSecretHash, {
  message: "must be a hash printed by `tokensmith secret new` (sha256$...), never the secret itself",
});
const hostPort = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).strict();

/**
 * One validator per field of an entity's shape: a field added to the domain's
 * ClientSettings or ApiKeySettings fails to compile here until the config file
 * can declare it. Optional where the config file may leave a field out.
 */
type ConfigFields<T> = { [K in keyof Required<T>]: z.ZodType<T[K] | undefined> };

/** 1-512 characters, none a control or bidi character: shown to administrators (client audiences, trusted issuers' names as audit targets). */
const shownName = z
  .string()
  .min(1)
  .max(512)
  .refine((text) => !hasTerminalControls(text), { message: "must not contain control or bidi characters" });

const clientSettings = {
  // A secret pasted as the id would be in every token, log line and audit event of the client.
  id: z
    .string()
    .min(1)
    .max(256)
    .refine((id) => !containsSecret(id), { message: "holds a Tokensmith secret: the client's id goes here, the hash of its secret in secretHashes" }),
  /** Public keys for private_key_jwt, inline (a JWK Set)... */
  jwks: z.object({ keys: z.array(z.object({ kty: z.string() }).passthrough()).min(1) }).strict().optional(),
  /** ...or by URL. */
  jwksUri: z.string().url().optional(),
  /** RFC 7591 names; default: [private_key_jwt] with jwks or jwksUri, else both client_secret_* methods. */
  tokenEndpointAuthMethods: z
    .array(z.enum(CLIENT_AUTH_METHODS))
    .min(1)
    .refine((methods) => new Set(methods).size === methods.length, { message: "names a method more than once" })
    .optional(),
  /** RFC 7591 names; default: [client_credentials]. */
  grantTypes: z
    .array(z.enum(GRANT_TYPES))
    .min(1)
    .refine((types) => new Set(types).size === types.length, { message: "names a grant type more than once" })
    .optional(),
  scopes: z.array(scope).default([]),
  audiences: z.array(shownName).default([]),
  /** Default: defaultTokenLifetimeSeconds. */
  tokenLifetimeSeconds: z.number().int().min(1).max(TOKEN_LIFETIME_LIMIT_SECONDS).optional(),
} satisfies ConfigFields<ClientSettings>;

const clientSchema = z
  .object({ ...clientSettings, secretHashes: z.array(secretHash).default([]) })
  .strict()
  .refine((client) => client.secretHashes.length > 0 || client.jwks || client.jwksUri || client.tokenEndpointAuthMethods?.includes("federated_jwt"), {
    message: "a client needs secretHashes, jwks or jwksUri to authenticate (or federated_jwt in tokenEndpointAuthMethods, mapped from trustedIssuers)",
  })
  .refine((client) => !(client.jwks && client.jwksUri), { message: "set jwks or jwksUri, not both", path: ["jwksUri"] })
  .refine((client) => !client.jwks?.keys.some((key) => "d" in key || "k" in key), {
    message: "jwks must hold public asymmetric keys only (found a private or symmetric key member \"d\" or \"k\")",
    path: ["jwks"],
  })
  .superRefine((client, ctx) => {
    const methods = registeredAuthMethods(client);
    const issue = (message: string) => ctx.addIssue({ code: "custom", message, path: ["tokenEndpointAuthMethods"] });
    if (methods.includes("private_key_jwt") && !client.jwks && !client.jwksUri) issue("private_key_jwt needs jwks or jwksUri");
    if (usesSecret(methods) && client.secretHashes.length === 0 && (client.jwks || client.jwksUri)) {
      issue(`${methods.filter((method) => method !== "private_key_jwt" && method !== "federated_jwt").join(", ")} needs secretHashes`);
    }
    if (!usesSecret(methods) && client.secretHashes.length > 0) {
      issue(
        "secretHashes are set but no client_secret_* method is registered (with jwks or jwksUri the default is private_key_jwt only): " +
          "add client_secret_basic and/or client_secret_post, or remove secretHashes",
      );
    }
  });

const publicJwks = z
  .object({ keys: z.array(z.object({ kty: z.string() }).passthrough()).min(1) })
  .strict()
  .refine((jwks) => !jwks.keys.some((key) => "d" in key || "k" in key), {
    message: "jwks must hold public asymmetric keys only (found a private or symmetric key member \"d\" or \"k\")",
  });

/** An external issuer whose JWTs authenticate the clients their subjects map to (federated_jwt) and are subject tokens of token exchange. AdminService's CreateTrustedIssuer validates with it too. */
export const trustedIssuerSchema = z
  .object({
    issuer: shownName,
    jwks: publicJwks.optional(),
    jwksUri: z.string().url().optional(),
    audiences: z.array(shownName).min(1),
    subjectMapping: z
      .array(
        z
          .object({
            /** Exact, or ending in `*`: every subject starting with what precedes it. */
            subject: shownName.refine((subject) => subject !== "*", { message: "a bare * would map every subject of the issuer: name a prefix" }),
            clientId: z.string().min(1).max(256),
            // A member "__proto__" (JSON.parse and protobuf make one) is refused: the record schema (like a plain object) drops it without a word, and the mapping would hold without that condition.
            claims: z
              .unknown()
              .refine((claims) => typeof claims !== "object" || claims === null || !Object.hasOwn(claims, "__proto__"), { message: "a claim condition cannot be named __proto__" })
              .pipe(z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])))
              .optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict()
  .refine((trusted) => Boolean(trusted.jwks) !== Boolean(trusted.jwksUri), { message: "set jwks or jwksUri (exactly one)", path: ["jwksUri"] });

const trustedIssuers = z
  .array(trustedIssuerSchema)
  .default([])
  .refine((issuers) => new Set(issuers.map((trusted) => trusted.issuer)).size === issuers.length, { message: "an issuer is trusted once: merge its entries" });

const apiKeySettings = {
  name: z.string().min(1).max(128),
  scopes: z.array(scope).min(1),
  grantLifetimeSeconds: z.number().int().min(1).max(GRANT_LIFETIME.maxSeconds).default(GRANT_LIFETIME.defaultSeconds),
} satisfies ConfigFields<ApiKeySettings>;

const apiKeySchema = z.object({ ...apiKeySettings, keyHash: secretHash } satisfies ConfigFields<Omit<ApiKey, "source">>).strict();

const storeSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("memory") }).strict(),
  z
    .object({
      type: z.literal("redis"),
      url: z.string().url().optional(),
      sentinels: z.array(hostPort).min(1).optional(),
      sentinelName: z.string().min(1).optional(),
      clusterNodes: z.array(hostPort).min(1).optional(),
      password: z.string().optional(),
      keyPrefix: z.string().default("tokensmith:"),
      commandTimeoutMs: z.number().int().min(10).max(10_000).default(500),
    })
    .strict()
    .refine((value) => Number(Boolean(value.url)) + Number(Boolean(value.sentinels)) + Number(Boolean(value.clusterNodes)) === 1, {
      message: "set exactly one of url, sentinels (with sentinelName) or clusterNodes",
    })
    .refine((value) => !value.sentinels || value.sentinelName, { message: "sentinels need sentinelName", path: ["sentinelName"] }),
]);

export const configSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
    /** The `iss` of every token; defaults to http(s)://host:port. */
    issuer: z.string().url().optional(),
    /** Where signing keys persist (memory store); none = a fresh key each start. */
    dataDir: z.string().min(1).optional(),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    signingAlgorithm: z.enum(["EdDSA", "ES256"]).default("EdDSA"),
    /** Threads that compute token signatures off the event loop (per process); 0 signs in the event loop. */
    signingThreads: z.number().int().min(0).max(16).default(1),
    /** Unary Connect and gRPC calls answered by rpc/connect-unary-fast-path.ts instead of connect-node (see its header for why). */
    rpcFastPath: z.boolean().default(true),
    /** Who computes Ed25519: libsodium (sodium-native; node:crypto where its addon does not load) or node:crypto. */
    ed25519: z.enum(["libsodium", "node"]).default("libsodium"),
    /** Default: an hour, or maxTokenLifetimeSeconds when that is lower. */
    defaultTokenLifetimeSeconds: z.number().int().min(1).max(TOKEN_LIFETIME_LIMIT_SECONDS).optional(),
    /** The longest lifetime any client may have; a rotated-out signing key stays published this long. */
    maxTokenLifetimeSeconds: z.number().int().min(60).max(TOKEN_LIFETIME_LIMIT_SECONDS).default(TOKEN_LIFETIME_LIMIT_SECONDS),
    /** How long a rotated-out client secret keeps working, unless the rotation says otherwise. */
    secretOverlapSeconds: z.number().int().min(0).max(30 * 86_400).default(3600),
    /** How long clients and API keys from the store are cached in each instance (admin changes on another instance show within this). */
    clientCacheSeconds: z.number().min(0).max(300).default(5),
    /**
     * How often each instance reads the change feed for changes made on the
     * others (issue 18): a change holds everywhere about this long after it
     * is acknowledged. One read at a time, two small reads of one key each.
     */
    feedPollMs: z.number().int().min(5).max(5_000).default(25),
    signingKeys: z
      .object({
        /** A new key is in the JWKS this long before it signs (JWKS caches catch up). */
        publishDelaySeconds: z.number().int().min(0).max(86_400).default(120),
        /** Rotate automatically this often; 0 turns scheduled rotation off. */
        rotateEveryDays: z.number().min(0).max(3650).default(30),
        /** How often each instance re-reads the shared key ring. */
        refreshSeconds: z.number().min(1).max(3600).default(10),
      })
      .strict()
      .default({ publishDelaySeconds: 120, rotateEveryDays: 30, refreshSeconds: 10 }),
    tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
    /** Refuse cleartext requests with a clear message. Default: on when TLS is configured. */
    requireTls: z.boolean().optional(),
    /**
     * The proxies in front whose forwarding headers count: addresses or CIDRs;
     * true = loopback only (127.0.0.0/8, ::1). From a trusted proxy, the caller
     * (for rate limits and logs) is the rightmost untrusted address of
     * forwardedHeader, and X-Forwarded-Proto counts for requireTls.
     */
    trustProxy: z
      .union([
        z.boolean(),
        z.array(z.string().refine((range) => parseAddressRange(range) !== undefined, { message: "must be an IP address or a CIDR (10.0.0.0/8, fd00::/8)" })),
      ])
      .default(false),
    /** The header the trusted proxies append the caller's address to. */
    forwardedHeader: z.enum(["x-forwarded-for", "forwarded"]).default("x-forwarded-for"),
    /** On SIGTERM: readiness goes false, then after this delay the port closes... */
    shutdownDelaySeconds: z.number().min(0).max(60).default(0),
    /** ...and requests in flight get this long to finish. */
    shutdownGraceSeconds: z.number().min(0).max(300).default(10),
    store: storeSchema.default({ type: "memory" }),
    clients: z.array(clientSchema).default([]),
    /** Scopes listed in the RFC 8414 metadata (scopes_supported), which anyone may read; none by default. */
    publicScopes: z.array(publicScope).default([]),
    apiKeys: z.array(apiKeySchema).default([]),
    /** Tenants declared here (read-only, like config clients), each with its own clients and API keys; more are created through the AdminService. */
    tenants: z
      .array(
        z.object({
          id: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "a tenant id is 1-63 lower-case letters, digits or '-', not starting or ending with '-'").refine((id) => id !== "default", "the tenant default always exists: declare its clients at the top level"),
          clients: z.array(clientSchema).default([]),
          apiKeys: z.array(apiKeySchema).default([]),
          /** The tenant's own trusted external issuers (see the top-level trustedIssuers). */
          trustedIssuers,
        }),
      )
      .default([])
      .refine((tenants) => new Set(tenants.map((tenant) => tenant.id)).size === tenants.length, "tenant ids must be unique"),
    /** External issuers (Kubernetes, GitHub Actions, ...) whose JWTs authenticate mapped clients of the default tenant (federated_jwt). */
    trustedIssuers,
    /** Tenants other than the default held in memory by one instance at most (loaded on first use, least recently used dropped). */
    tenantCacheSize: z.number().int().min(1).max(1_000_000).default(1_000),
    /** How long each tenant's audit events are kept in the store (trimmed on write); fractions of a day are allowed. */
    auditRetentionDays: z.number().positive().max(3650).default(90),
    /** Production mode refuses to keep private signing keys in a shared store unencrypted. */
    production: z.boolean().default(false),
    /** AES-256-GCM key-encryption key for private signing keys in the store: 32 bytes as hex or base64. From the environment. */
    keyEncryptionKey: z.string().min(1).optional(),
    /** Failed client / API-key authentications allowed per window before 429 (per peer, and per client id from one peer). */
    rateLimits: z
      .object({
        failuresPerPeer: z.number().int().min(1).default(50),
        failuresPerSubjectAndPeer: z.number().int().min(1).default(10),
        windowSeconds: z.number().int().min(1).max(3600).default(60),
        /** Introspections per caller per second, per instance (a burst of twice this is allowed). */
        introspectionsPerSecond: z.number().int().min(1).default(50_000),
      })
      .strict()
      .default({ failuresPerPeer: 50, failuresPerSubjectAndPeer: 10, windowSeconds: 60, introspectionsPerSecond: 50_000 }),
    /** While the store is unreachable: one warning, then one line per this many seconds with the count of failed requests. */
    storeOutageLogSeconds: z.number().min(0.1).max(3600).default(10),
    /** WatchRevocations: a heartbeat this often tells a watcher it is current (it may fail closed without one). */
    watchHeartbeatSeconds: z.number().min(0.01).max(60).default(1),
    /**
     * HTTP/2 sessions (h2c and h2), per process. An idle session (no open
     * stream) gets GOAWAY and is closed; sessions past a cap are refused with
     * GOAWAY ENHANCE_YOUR_CALM (trusted proxies are capped in total only); a
     * session that resets more streams than it completes, by more than the
     * allowance, gets GOAWAY ENHANCE_YOUR_CALM (HTTP/2 rapid reset).
     */
    http2: z
      .object({
        idleTimeoutSeconds: z.number().positive().max(3600).default(10),
        maxSessions: z.number().int().min(1).default(10_000),
        maxSessionsPerPeer: z.number().int().min(1).default(100),
        rapidResetAllowance: z.number().int().min(1).default(100),
        rapidResetBanSeconds: z.number().min(0).max(86_400).default(10),
      })
      .strict()
      .default({ idleTimeoutSeconds: 10, maxSessions: 10_000, maxSessionsPerPeer: 100, rapidResetAllowance: 100, rapidResetBanSeconds: 10 }),
    /** Worker processes (node:cluster) serving the port; 1 = this process only. Needs the Redis store to share state. */
    workers: z.number().int().min(1).max(64).default(1),
    /** Which client jwks_uris the server fetches: https to public addresses only, unless opened here. */
    clientJwksUris: z
      .object({
        /** Allow http: jwks_uris (local development and tests). */
        allowHttp: z.boolean().default(false),
        /** Allow jwks_uris on loopback, private, link-local and other internal addresses (key servers inside your network). */
        allowPrivateNetworks: z.boolean().default(false),
      })
      .strict()
      .default({ allowHttp: false, allowPrivateNetworks: false }),
    /** Create a demo client at start when no client is configured. */
    demoClient: z.boolean().default(true),
    /** Browser origins allowed to call the RPCs and the OAuth endpoints (CORS); none by default. */
    cors: z
      .object({
        allowedOrigins: z
          .array(
            z.string().refine(
              (origin) => origin === "*" || isOrigin(origin),
              { message: "must be an origin, scheme://host[:port] in lower case with no path or trailing slash, or *" },
            ),
          )
          .default([]),
        allowCredentials: z.boolean().default(false),
      })
      .strict()
      .refine((cors) => !(cors.allowCredentials && cors.allowedOrigins.includes("*")), {
        message: "allowCredentials needs explicit origins, not *",
        path: ["allowedOrigins"],
      })
      .default({ allowedOrigins: [], allowCredentials: false }),
  })
  .strict()
  .superRefine((value, ctx) => {
    const seen = new Set<string>();
    value.clients.forEach((client, index) => {
      if (seen.has(client.id)) ctx.addIssue({ code: "custom", message: `duplicate client id "${client.id}"`, path: ["clients", index, "id"] });
      seen.add(client.id);
      if (client.jwksUri === undefined) return;
      try {
        checkJwksUri(client.jwksUri, value.clientJwksUris);
      } catch (error) {
        if (!(error instanceof JwksUriError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message, path: ["clients", index, "jwksUri"] });
      }
    });
    const checkTrustedJwksUris = (issuers: Array<{ jwksUri?: string | undefined }>, path: Array<string | number>) =>
      issuers.forEach((trusted, index) => {
        if (trusted.jwksUri === undefined) return;
        try {
          checkJwksUri(trusted.jwksUri, value.clientJwksUris);
        } catch (error) {
          if (!(error instanceof JwksUriError)) throw error;
          ctx.addIssue({ code: "custom", message: error.message, path: [...path, index, "jwksUri"] });
        }
      });
    checkTrustedJwksUris(value.trustedIssuers, ["trustedIssuers"]);
    value.tenants.forEach((tenant, index) => checkTrustedJwksUris(tenant.trustedIssuers, ["tenants", index, "trustedIssuers"]));
    if (value.workers > 1 && value.store.type !== "redis") {
      ctx.addIssue({
        code: "custom",
        message: "several workers share grants, revocations and signing keys only through Redis: set a redis store, or workers: 1",
        path: ["workers"],
      });
    }
    const names = new Set<string>();
    value.apiKeys.forEach((key, index) => {
      if (names.has(key.name)) ctx.addIssue({ code: "custom", message: `duplicate API key name "${key.name}"`, path: ["apiKeys", index, "name"] });
      names.add(key.name);
    });
    // A rotated-out signing key stays published only maxTokenLifetimeSeconds: a token living longer would stop verifying early.
    // Grant lifetimes are not checked here: grants are opaque store records, never signed, capped by GRANT_LIFETIME.
    const max = value.maxTokenLifetimeSeconds;
    const tooLong = (seconds: number | undefined, path: Array<string | number>) => {
      if (seconds !== undefined && seconds > max) {
        ctx.addIssue({ code: "custom", message: `${seconds} exceeds maxTokenLifetimeSeconds (${max}): lower it or raise the maximum`, path });
      }
    };
    tooLong(value.defaultTokenLifetimeSeconds, ["defaultTokenLifetimeSeconds"]);
    value.clients.forEach((client, index) => tooLong(client.tokenLifetimeSeconds, ["clients", index, "tokenLifetimeSeconds"]));
  })
  .transform((value) => ({
    ...value,
    defaultTokenLifetimeSeconds: value.defaultTokenLifetimeSeconds ?? Math.min(DEFAULT_TOKEN_LIFETIME_SECONDS, value.maxTokenLifetimeSeconds),
  }));

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type StoreConfig = Config["store"];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Validates a config object; the error names every bad field by its path. */
export function parseConfig(input: unknown, source = "configuration"): Config {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join(".") : "(root)";
    return `  ${path}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${source}:\n${lines.join("\n")}`);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  try {
    const value: unknown = extname(path) === ".json" ? JSON.parse(text) : parseYaml(text);
    if (value === null || value === undefined) return {};
    if (typeof value !== "object" || Array.isArray(value)) throw new Error("the top level must be a mapping");
    return value as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`cannot parse config file ${path}: ${(error as Error).message}`);
  }
}

function envInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`invalid environment:\n  ${name}: expected a whole number, got "${raw}"`);
  return Number(raw);
}

/**
 * An admin client declared by the environment (an env file, as Keycloak's bootstrap admin client):
 * TOKENSMITH_ADMIN_CLIENT_ID and TOKENSMITH_ADMIN_CLIENT_SECRET_HASH, both or neither; a config
 * client allowed tokensmith:admin only. The hash, never the secret, so the environment holds no secret.
 */
function adminClientFromEnv(env: NodeJS.ProcessEnv): { id: string; secretHashes: string[]; scopes: string[] } | undefined {
  const id = env.TOKENSMITH_ADMIN_CLIENT_ID || undefined;
  const hash = env.TOKENSMITH_ADMIN_CLIENT_SECRET_HASH || undefined;
  if (id === undefined && hash === undefined) return undefined;
  const missing = id === undefined ? "TOKENSMITH_ADMIN_CLIENT_ID" : hash === undefined ? "TOKENSMITH_ADMIN_CLIENT_SECRET_HASH" : undefined;
  if (missing !== undefined) throw new ConfigError(`invalid environment:\n  ${missing} is not set: an admin client needs TOKENSMITH_ADMIN_CLIENT_ID and TOKENSMITH_ADMIN_CLIENT_SECRET_HASH`);
  if (containsSecret(id!)) {
    throw new ConfigError("invalid environment:\n  TOKENSMITH_ADMIN_CLIENT_ID: holds a Tokensmith secret: set the client's id here, and the hash of its secret in TOKENSMITH_ADMIN_CLIENT_SECRET_HASH");
  }
  if (!isSecretHash(hash!)) {
    throw new ConfigError("invalid environment:\n  TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: must be a hash printed by `tokensmith secret new` (sha256$...), never the secret itself");
  }
  return { id: id!, secretHashes: [hash!], scopes: [ADMIN_SCOPE] };
}

/**
 * Configuration = the optional file (TOKENSMITH_CONFIG or --config; YAML or
 * JSON), then environment variables on top, validated once at start-up.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, configPath = env.TOKENSMITH_CONFIG): Config {
  const merged: Record<string, unknown> = configPath ? readConfigFile(configPath) : {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined && value !== "") merged[key] = value;
  };
  set("host", env.TOKENSMITH_HOST);
  set("port", envInteger(env, "TOKENSMITH_PORT"));
  set("issuer", env.TOKENSMITH_ISSUER);
  set("dataDir", env.TOKENSMITH_DATA_DIR);
  set("logLevel", env.TOKENSMITH_LOG_LEVEL);
  set("signingAlgorithm", env.TOKENSMITH_SIGNING_ALG);
  set("signingThreads", envInteger(env, "TOKENSMITH_SIGNING_THREADS"));
  set("shutdownDelaySeconds", envInteger(env, "TOKENSMITH_SHUTDOWN_DELAY_SECONDS"));
  set("shutdownGraceSeconds", envInteger(env, "TOKENSMITH_SHUTDOWN_GRACE_SECONDS"));
  if (env.TOKENSMITH_RPC_FAST_PATH) merged.rpcFastPath = !["false", "0", "off"].includes(env.TOKENSMITH_RPC_FAST_PATH.trim().toLowerCase());
  set("ed25519", env.TOKENSMITH_ED25519);
  set("keyEncryptionKey", env.TOKENSMITH_KEY_ENCRYPTION_KEY);
  if (env.TOKENSMITH_WORKERS === "auto") merged.workers = availableParallelism();
  else set("workers", envInteger(env, "TOKENSMITH_WORKERS"));
  if (env.NODE_ENV === "production" || env.TOKENSMITH_ENV === "production") merged.production = true;
  if (env.TOKENSMITH_TRUST_PROXY) {
    const value = env.TOKENSMITH_TRUST_PROXY.trim();
    merged.trustProxy = value === "true" || value === "false" ? value === "true" : value.split(",").map((range) => range.trim());
  }
  if (env.TOKENSMITH_REQUIRE_TLS) merged.requireTls = env.TOKENSMITH_REQUIRE_TLS === "true" || env.TOKENSMITH_REQUIRE_TLS === "1";
  if (env.TOKENSMITH_TLS_CERT || env.TOKENSMITH_TLS_KEY) {
    merged.tls = { certFile: env.TOKENSMITH_TLS_CERT, keyFile: env.TOKENSMITH_TLS_KEY };
  }
  if (env.REDIS_CLUSTER_NODES) {
    const fileStore = (merged.store ?? {}) as Record<string, unknown>;
    merged.store = {
      ...(fileStore.type === "redis" ? fileStore : {}),
      type: "redis",
      url: undefined,
      clusterNodes: env.REDIS_CLUSTER_NODES.split(",").map((node) => {
        const [host = "", port = ""] = node.trim().split(":");
        return { host, port: Number(port) };
      }),
    };
  } else if (env.REDIS_URL) {
    const fileStore = (merged.store ?? {}) as Record<string, unknown>;
    merged.store = { ...(fileStore.type === "redis" ? fileStore : {}), type: "redis", url: env.REDIS_URL };
  }
  const adminClient = adminClientFromEnv(env);
  if (adminClient !== undefined) merged.clients = [...((merged.clients as unknown[] | undefined) ?? []), adminClient];
  return parseConfig(merged, configPath ? `configuration (${configPath} and environment)` : "configuration (environment)");
}

export function issuerOf(config: Config, boundPort: number): string {
  if (config.issuer) return config.issuer.replace(/\/$/, "");
  const scheme = config.tls ? "https" : "http";
  return `${scheme}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${boundPort}`;
}
