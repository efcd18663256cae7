import type { Logger } from "pino";
import { clientOf, registeredAuthMethods, registeredGrantTypes, type Client } from "./domain/client.js";
import { LayeredClientRegistry } from "./domain/client-registry.js";
import { LayeredApiKeyRegistry } from "./domain/api-key-registry.js";
import { Administration } from "./domain/administration.js";
import { ClientAuthenticator } from "./domain/client-authenticator.js";
import { ClientTokenIssuer } from "./domain/client-token-issuer.js";
import { TokenExchanger } from "./domain/token-exchange.js";
import type { Clock } from "./domain/clock.js";
import { ConfigError, type Config } from "./config.js";
import { JwtAccessTokenVerifier } from "./keys/access-token-verifier.js";
import { EphemeralKeyPersistence, FileKeyPersistence, KeyRing, type KeyRingPersistence } from "./keys/key-ring.js";
import { KeyEncryption } from "./keys/key-encryption.js";
import { inlineSignatures, SigningThreads, type Signatures } from "./keys/signing-threads.js";
import { ed25519Engine, type Ed25519Engine } from "./keys/ed25519.js";
import { DEFAULT_TENANT, TenantStore } from "./store/tenant-store.js";
import { TenantDomains, UNKNOWN_TENANT } from "./tenant-domains.js";
import { TenantRegistry, type TenantSpec } from "./domain/tenant-registry.js";
import { join } from "node:path";
import { StoreKeyPersistence } from "./keys/store-key-persistence.js";
import type { Store } from "./store/store.js";
import { JwtClientAssertionVerifier } from "./domain/client-assertion.js";
import { createJwksUriFetch } from "./keys/jwks-uri-fetch.js";
import { TrustedIssuers } from "./domain/trusted-issuers.js";
import { TrustedIssuerRegistry } from "./domain/trusted-issuer-registry.js";
import { apiKeyOf, type ApiKey } from "./domain/api-key.js";
import { CallerAuthenticator } from "./domain/caller.js";
import { ActiveAccessTokens } from "./domain/active-access-tokens.js";
import { ClientTokenCutoffs } from "./domain/client-token-cutoffs.js";
import { AuthRateLimiter, type Lockout } from "./domain/auth-rate-limiter.js";
import { AuditTrail } from "./domain/audit-trail.js";
import { CallerRateLimiter } from "./domain/caller-rate-limiter.js";
import { Metrics } from "./observability/metrics.js";
import { StoreOutageLog } from "./observability/store-outage-log.js";
import { GrantIssuer } from "./domain/grant.js";
import { Introspector } from "./domain/introspection.js";
import { ChangeFeed } from "./domain/change-feed.js";
import { FeedFollower } from "./domain/feed-follower.js";
import { RevocationList } from "./domain/revocation-list.js";
import { TokenRevoker } from "./domain/revocation.js";
import { NamedAccessTokens } from "./domain/named-access-tokens.js";
import { RevocationWatch } from "./domain/revocation-watch.js";
import { TenantAdministration } from "./domain/tenant-administration.js";
import { rm } from "node:fs/promises";
import { invalidClient } from "./domain/oauth-error.js";
import type { Tracer } from "@opentelemetry/api";
import { tracedSignatures } from "./keys/traced-signatures.js";

/** Everything a transport needs, wired once. The domain gets a Store and a clock, nothing else. */
export interface Domain {
  /** Whose domain this is: every tenant has its own issuer, keys, clients, API keys, grants and revocations. */
  tenant: string;
  /** Every tenant loaded on this instance (shared by all their domains). */
  tenants: TenantDomains;
  /** Creating, changing and deleting tenants (the platform administrators' AdminService calls; shared by all domains). */
  platform: TenantAdministration;
  /** What the tenant sets for itself (the default tenant: nothing, the deployment's settings hold). */
  settings: TenantSpec["settings"];
  config: Config;
  issuer: string;
  clock: Clock;
  store: Store;
  keyRing: KeyRing;
  clients: LayeredClientRegistry;
  /** The tenant's trusted external issuers: declared in the config file, and stored through the AdminService. */
  trustedIssuers: TrustedIssuerRegistry;
  clientTokens: ClientTokenIssuer;
  /** RFC 8693 token exchange (issue 20). */
  tokenExchange: TokenExchanger;
  accessTokens: JwtAccessTokenVerifier;
  apiKeys: LayeredApiKeyRegistry;
  administration: Administration;
  grants: GrantIssuer;
  introspector: Introspector;
  revoker: TokenRevoker;
  /** Every change that ends a credential's power, in order (issue 18). */
  feed: ChangeFeed;
  /**
   * The instance's one reader of the feed: drops what this instance cached when the feed says it
   * changed, and feeds every WatchRevocations stream; started and stopped with the server.
   */
  follower: FeedFollower;
  revocationWatch: RevocationWatch;
  /** The tenant's audit trail (issue 21): AdminService changes and security events. */
  audit: AuditTrail;
  logger: Logger;
  metrics: Metrics;
  /** Where requests that failed for want of the store are logged (see StoreOutageLog). */
  storeOutages: StoreOutageLog;
}

const traced = (signatures: Signatures, tracer: Tracer | undefined): Signatures => (tracer === undefined ? signatures : tracedSignatures(signatures, tracer));

export function apiKeysFromConfig(config: Pick<Config, "apiKeys">): ApiKey[] {
  return config.apiKeys.map((key) => apiKeyOf(key, "config"));
}

/** A tenant the config file declares, with its clients and API keys (lifetimes default as the deployment's do). */
function tenantSpecFromConfig(tenant: Config["tenants"][number], config: Config): TenantSpec {
  return { id: tenant.id, clients: clientsFromConfig({ ...config, clients: tenant.clients }), apiKeys: apiKeysFromConfig(tenant), settings: {} };
}

export const tokenEndpointOf = (issuer: string) => `${issuer}/oauth2/token`;

export function clientsFromConfig(config: Pick<Config, "clients" | "defaultTokenLifetimeSeconds">): Client[] {
  return config.clients.map((client) =>
    clientOf(client, {
      tokenLifetimeSeconds: client.tokenLifetimeSeconds ?? config.defaultTokenLifetimeSeconds,
      tokenEndpointAuthMethods: registeredAuthMethods(client),
      grantTypes: registeredGrantTypes(client),
      secretHashes: client.secretHashes,
      source: "config",
    }),
  );
}

/**
 * Shared Redis: the ring lives in the store (encrypted with the KEK) so all
 * instances agree. Embedded: a file in the data directory, or nothing.
 */
function keyPersistence(config: Config, store: Store, logger: Logger, tenant: string): KeyRingPersistence {
  const encryption = config.keyEncryptionKey ? KeyEncryption.fromEnvironmentValue(config.keyEncryptionKey) : undefined;
  if (tenant === UNKNOWN_TENANT) return new EphemeralKeyPersistence();
  if (config.store.type === "redis") {
    if (encryption === undefined && config.production) {
      throw new ConfigError(
        "production mode keeps signing keys in Redis encrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY to 32 random bytes (e.g. `openssl rand -hex 32`)",
      );
    }
    if (encryption === undefined && tenant === DEFAULT_TENANT) {
      // Anyone who can read Redis (a backup, a replica, MONITOR) could then sign tokens.
      logger.warn(
        "private signing keys are stored in Redis unencrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY to 32 random bytes (e.g. `openssl rand -hex 32`) on every instance",
      );
    }
    return new StoreKeyPersistence(store, encryption);
  }
  // A tenant's ring must outlive its domain, which an instance drops and loads again (tenantCacheSize):
  // in the memory store, which lives as long as the process, as the default tenant's lives as long as its domain.
  if (!config.dataDir) return tenant === DEFAULT_TENANT ? new EphemeralKeyPersistence() : new StoreKeyPersistence(store, encryption);
  return new FileKeyPersistence(tenant === DEFAULT_TENANT ? config.dataDir : tenantKeyDirectory(config.dataDir, tenant), encryption);
}

/** Where a tenant other than the default keeps its key ring with the memory store. */
const tenantKeyDirectory = (dataDir: string, tenant: string) => join(dataDir, "tenants", tenant);

/** Keys removed per round trip when a deleted tenant's data goes: small enough that each SCAN/UNLINK step is short. */
const PURGE_BATCH_SIZE = 500;

/** What every tenant's domain on this instance shares. */
interface InstanceParts {
  config: Config;
  clock: Clock;
  /** The store itself: tenants other than the default see it through a TenantStore. */
  rootStore: Store;
  logger: Logger;
  metrics: Metrics;
  storeOutages: StoreOutageLog;
  signatures: Signatures;
  ed25519: Ed25519Engine;
  /** The deployment's issuer: the default tenant's, and the base of every other's (`<issuer>/t/<tenant>`). */
  issuer: string;
  platform: TenantAdministration;
}

export async function createDomain(options: {
  config: Config;
  issuer: string;
  clock: Clock;
  store: Store;
  logger: Logger;
  extraClients?: Client[];
  extraApiKeys?: ApiKey[];
  /** HTTP/2 sessions open now, for the metrics. */
  http2Sessions?: () => number;
  /** Signatures are traced with it (see StartOptions.tracer). */
  tracer?: Tracer;
}): Promise<Domain> {
  const { config, issuer, clock, store, logger } = options;
  const ed25519 = ed25519Engine(config.ed25519);
  if (config.ed25519 === "libsodium" && ed25519.name !== "libsodium") {
    logger.warn("libsodium (sodium-native) does not load on this platform: node:crypto computes Ed25519 signatures");
  }
  let defaultRing: KeyRing | undefined;
  const metrics = new Metrics({
    http2Sessions: options.http2Sessions,
    signingKeyAges: () =>
      (defaultRing?.describe() ?? []).filter((key) => key.published).map((key) => ({ kid: key.kid, ageSeconds: (clock.now() - key.createdAt) / 1000 })),
  });
  const parts: Omit<InstanceParts, "platform"> = {
    config,
    clock,
    rootStore: store,
    logger,
    metrics,
    storeOutages: new StoreOutageLog({ logger, probe: () => store.ping(), intervalMs: config.storeOutageLogSeconds * 1000 }),
    signatures: traced(config.signingThreads > 0 ? new SigningThreads(config.signingThreads, logger) : inlineSignatures, options.tracer),
    ed25519,
    issuer,
  };
  // One reader of the deployment's one feed, for every tenant loaded here.
  const retainMs = config.maxTokenLifetimeSeconds * 1000;
  const registry = new TenantRegistry({ store, clock, declared: config.tenants.map((tenant) => tenantSpecFromConfig(tenant, config)) });
  const tenants: TenantDomains = new TenantDomains({
    build: (spec, follower): Promise<Domain> => createTenantDomain(instance, spec, follower, tenants),
    registry,
    capacity: config.tenantCacheSize,
    absentMs: config.clientCacheSeconds * 1000,
    logger,
  });
  const platform = new TenantAdministration({
    registry,
    tenants,
    store,
    feedOf: (tenant) => new ChangeFeed({ store, retainMs, tenant }),
    issuerOf: (tenant) => tenantIssuer(issuer, tenant),
    // With the memory store and a dataDir, a tenant's key ring is a file (keyPersistence).
    ...(config.store.type !== "redis" && config.dataDir ? { removeFiles: (tenant: string) => rm(tenantKeyDirectory(config.dataDir!, tenant), { recursive: true, force: true }) } : {}),
    clock,
    logger,
    settings: {
      defaultTokenLifetimeSeconds: config.defaultTokenLifetimeSeconds,
      maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
      purgeBatchSize: PURGE_BATCH_SIZE,
      // Every instance reads the feed every feedPollMs: forty polls is ample for all to have dropped the tenant.
      purgeSettleMs: Math.max(1_000, config.feedPollMs * 40),
    },
  });
  const instance: InstanceParts = { ...parts, platform };
  const follower = new FeedFollower({
    feed: new ChangeFeed({ store, retainMs }),
    caches: tenants.caches(),
    pollMs: config.feedPollMs,
    logger,
  });
  tenants.follow(follower);
  const domain = await tenants.openDefault({
    id: DEFAULT_TENANT,
    clients: [...clientsFromConfig(config), ...(options.extraClients ?? [])],
    apiKeys: [...apiKeysFromConfig(config), ...(options.extraApiKeys ?? [])],
    settings: {},
  });
  defaultRing = domain.keyRing;
  return domain;
}

/** The issuer of a tenant: the deployment's own for the default tenant, `<issuer>/t/<tenant>` for any other. */
export function tenantIssuer(deploymentIssuer: string, tenant: string): string {
  return tenant === DEFAULT_TENANT ? deploymentIssuer : `${deploymentIssuer}/t/${tenant}`;
}

async function createTenantDomain(parts: InstanceParts, spec: TenantSpec, follower: FeedFollower, tenants: TenantDomains): Promise<Domain> {
  const { config, clock, logger, metrics } = parts;
  const tenant = spec.id;
  const store = tenant === DEFAULT_TENANT ? parts.rootStore : new TenantStore(parts.rootStore, tenant);
  const issuer = tenantIssuer(parts.issuer, tenant);
  const keyRing = await KeyRing.open({
    persistence: keyPersistence(config, store, logger, tenant),
    algorithm: config.signingAlgorithm,
    clock,
    signatures: parts.signatures,
    ed25519: parts.ed25519,
  });
  const cacheMs = config.clientCacheSeconds * 1000;
  // The tenant's own lifetimes, within the deployment's (TenantAdministration checks them; a lowered maximum caps stored clients).
  const maxTokenLifetimeSeconds = Math.min(spec.settings.maxTokenLifetimeSeconds ?? config.maxTokenLifetimeSeconds, config.maxTokenLifetimeSeconds);
  const defaultTokenLifetimeSeconds = Math.min(spec.settings.defaultTokenLifetimeSeconds ?? config.defaultTokenLifetimeSeconds, maxTokenLifetimeSeconds);
  const clients = new LayeredClientRegistry(spec.clients, {
    store,
    clock,
    cacheMs,
    maxTokenLifetimeSeconds,
  });
  const assertions = new JwtClientAssertionVerifier({
    clients,
    store,
    clock,
    audiences: [issuer, tokenEndpointOf(issuer)],
    fetchJwks: createJwksUriFetch(config.clientJwksUris),
  });
  const audit = new AuditTrail({ store, tenant, retainMs: config.auditRetentionDays * 86_400_000, logger });
  const limiter = new AuthRateLimiter({ store, clock, settings: config.rateLimits, events: metrics, lockouts: lockoutRecorder(audit, logger) });
  // The deployment's trusted issuers are the default tenant's; a tenant declared in the config file may list its own.
  const trusted = tenant === DEFAULT_TENANT ? config.trustedIssuers : (config.tenants.find((declared) => declared.id === tenant)?.trustedIssuers ?? []);
  const trustedIssuers = new TrustedIssuerRegistry(trusted, { store, clock, cacheMs });
  const federation = new TrustedIssuers({ issuers: trustedIssuers, clients, store, clock, fetchJwks: createJwksUriFetch(config.clientJwksUris), logger });
  const authenticator = new ClientAuthenticator(clients, assertions, limiter, federation);
  const clientTokens = new ClientTokenIssuer({ authenticator, signer: keyRing, issuer, clock, events: metrics });
  const accessTokens = new JwtAccessTokenVerifier(keyRing, issuer, clock);
  const apiKeys = new LayeredApiKeyRegistry(spec.apiKeys, { store, clock, cacheMs });
  // The tenant's view of the deployment's one feed, held as long as a token can live: every entry still matters, no older one does.
  const feed = new ChangeFeed({ store: parts.rootStore, retainMs: config.maxTokenLifetimeSeconds * 1000, tenant });
  const revocations = new RevocationList({ store, clock, feed });
  const cutoffs = new ClientTokenCutoffs({ store, clock });
  const activeTokens = new ActiveAccessTokens({ accessTokens, revocations, cutoffs, clients });
  // A state change in a tenant other than the default checks that it still exists (deleted on another instance, not yet heard of here).
  const tenantExists = tenant === DEFAULT_TENANT ? undefined : async () => (await tenants.registry.find(tenant)) !== undefined;
  const callers = new CallerAuthenticator({ clients: authenticator, activeTokens, apiKeys, limiter, tenantExists });
  const tokenExchange = new TokenExchanger({ authenticator, activeTokens, signer: keyRing, issuer, clock, events: metrics, federation });
  const grants = new GrantIssuer({ apiKeys, store, clock, events: metrics, limiter });
  const introspectionLimiter = new CallerRateLimiter({
    clock,
    perSecond: config.rateLimits.introspectionsPerSecond,
    burst: config.rateLimits.introspectionsPerSecond * 2,
    onLimited: () => metrics.limited("caller"),
  });
  const introspector = new Introspector({ callers, activeTokens, store, issuer, clock, limiter: introspectionLimiter });
  const revoker = new TokenRevoker({ callers, accessTokens, revocations, store, events: metrics });
  const revocationWatch = new RevocationWatch({
    callers,
    tenant,
    feed,
    follower,
    publishedKids: () => keyRing.publicJwks().map((key) => key.kid),
    clock,
    heartbeatMs: config.watchHeartbeatSeconds * 1000,
    events: metrics,
  });
  const administration = new Administration({
    tenant,
    clients,
    apiKeys,
    trustedIssuers,
    keyRing,
    store,
    feed,
    callers,
    cutoffs,
    namedTokens: new NamedAccessTokens({ store, clock, revocations, cutoffs }),
    events: metrics,
    issuer,
    revocations,
    clock,
    audit,
    settings: {
      defaultTokenLifetimeSeconds,
      maxTokenLifetimeSeconds,
      tokenRetentionSeconds: config.maxTokenLifetimeSeconds,
      secretOverlapSeconds: config.secretOverlapSeconds,
      signingKeyPublishDelaySeconds: config.signingKeys.publishDelaySeconds,
      jwksUriPolicy: config.clientJwksUris,
    },
    // Platform administrators administer every tenant that exists (on an instance that has not heard of a deletion yet too: tenantExists).
    ...(tenantExists !== undefined && tenant !== UNKNOWN_TENANT
      ? {
          platformAdministrator: async (authorization: string) => {
            const { claims } = await tenants.default.administration.authorizePlatform(authorization);
            if (!(await tenantExists())) throw invalidClient("the bearer token is invalid, expired or revoked");
            return claims;
          },
        }
      : {}),
  });
  return {
    tenant,
    tenants,
    platform: parts.platform,
    settings: spec.settings,
    config,
    issuer,
    clock,
    store,
    keyRing,
    clients,
    trustedIssuers,
    clientTokens,
    tokenExchange,
    accessTokens,
    apiKeys,
    administration,
    grants,
    introspector,
    revoker,
    feed,
    follower,
    revocationWatch,
    audit,
    logger,
    metrics,
    storeOutages: parts.storeOutages,
  };
}

/**
 * A lockout is recorded off the request's path: the limiter answers at once,
 * and a store that cannot take the event (the limiter may be counting in
 * process for want of it) leaves the event in the log line only.
 */
function lockoutRecorder(audit: AuditTrail, logger: Logger): (lockout: Lockout) => void {
  return ({ peer, subject, limit, windowSeconds }) => {
    audit
      .record({ kind: "peer.locked_out", target: peer, peer, details: { limit, window_seconds: String(windowSeconds), ...(subject !== undefined ? { client_id: subject } : {}) } })
      .catch((error: unknown) => logger.warn({ err: { message: (error as Error).message } }, "could not store an audit event (peer.locked_out); it is in the log line above"));
  };
}
