import type { Logger } from "pino";
import { clientOf, registeredAuthMethods, type Client } from "./domain/client.js";
import { LayeredClientRegistry } from "./domain/client-registry.js";
import { LayeredApiKeyRegistry } from "./domain/api-key-registry.js";
import { Administration } from "./domain/administration.js";
import { ClientAuthenticator } from "./domain/client-authenticator.js";
import { ClientTokenIssuer } from "./domain/client-token-issuer.js";
import type { Clock } from "./domain/clock.js";
import { ConfigError, type Config } from "./config.js";
import { JwtAccessTokenVerifier } from "./keys/access-token-verifier.js";
import { EphemeralKeyPersistence, FileKeyPersistence, KeyRing, type KeyRingPersistence } from "./keys/key-ring.js";
import { KeyEncryption } from "./keys/key-encryption.js";
import { inlineSignatures, SigningThreads } from "./keys/signing-threads.js";
import { ed25519Engine } from "./keys/ed25519.js";
import { StoreKeyPersistence } from "./keys/store-key-persistence.js";
import type { Store } from "./store/store.js";
import { JwtClientAssertionVerifier } from "./domain/client-assertion.js";
import { createJwksUriFetch } from "./keys/jwks-uri-fetch.js";
import { apiKeyOf, type ApiKey } from "./domain/api-key.js";
import { CallerAuthenticator } from "./domain/caller.js";
import { ActiveAccessTokens } from "./domain/active-access-tokens.js";
import { ClientTokenCutoffs } from "./domain/client-token-cutoffs.js";
import { AuthRateLimiter } from "./domain/auth-rate-limiter.js";
import { CallerRateLimiter } from "./domain/caller-rate-limiter.js";
import { Metrics } from "./observability/metrics.js";
import { StoreOutageLog } from "./observability/store-outage-log.js";
import { GrantIssuer } from "./domain/grant.js";
import { Introspector } from "./domain/introspection.js";
import { ChangeFeed } from "./domain/change-feed.js";
import { FeedFollower } from "./domain/feed-follower.js";
import { RevocationList } from "./domain/revocation-list.js";
import { TokenRevoker } from "./domain/revocation.js";
import { RevocationWatch } from "./domain/revocation-watch.js";

/** Everything a transport needs, wired once. The domain gets a Store and a clock, nothing else. */
export interface Domain {
  config: Config;
  issuer: string;
  clock: Clock;
  store: Store;
  keyRing: KeyRing;
  clients: LayeredClientRegistry;
  clientTokens: ClientTokenIssuer;
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
  logger: Logger;
  metrics: Metrics;
  /** Where requests that failed for want of the store are logged (see StoreOutageLog). */
  storeOutages: StoreOutageLog;
}

export function apiKeysFromConfig(config: Config): ApiKey[] {
  return config.apiKeys.map((key) => apiKeyOf(key, "config"));
}

export const tokenEndpointOf = (issuer: string) => `${issuer}/oauth2/token`;

export function clientsFromConfig(config: Config): Client[] {
  return config.clients.map((client) =>
    clientOf(client, {
      tokenLifetimeSeconds: client.tokenLifetimeSeconds ?? config.defaultTokenLifetimeSeconds,
      tokenEndpointAuthMethods: registeredAuthMethods(client),
      secretHashes: client.secretHashes,
      source: "config",
    }),
  );
}

/**
 * Shared Redis: the ring lives in the store (encrypted with the KEK) so all
 * instances agree. Embedded: a file in the data directory, or nothing.
 */
function keyPersistence(config: Config, store: Store, logger: Logger): KeyRingPersistence {
  const encryption = config.keyEncryptionKey ? KeyEncryption.fromEnvironmentValue(config.keyEncryptionKey) : undefined;
  if (config.store.type === "redis") {
    if (encryption === undefined && config.production) {
      throw new ConfigError(
        "production mode keeps signing keys in Redis encrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY to 32 random bytes (e.g. `openssl rand -hex 32`)",
      );
    }
    if (encryption === undefined) {
      // Anyone who can read Redis (a backup, a replica, MONITOR) could then sign tokens.
      logger.warn(
        "private signing keys are stored in Redis unencrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY to 32 random bytes (e.g. `openssl rand -hex 32`) on every instance",
      );
    }
    return new StoreKeyPersistence(store, encryption);
  }
  return config.dataDir ? new FileKeyPersistence(config.dataDir, encryption) : new EphemeralKeyPersistence();
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
}): Promise<Domain> {
  const { config, issuer, clock, store, logger } = options;
  const ed25519 = ed25519Engine(config.ed25519);
  if (config.ed25519 === "libsodium" && ed25519.name !== "libsodium") {
    logger.warn("libsodium (sodium-native) does not load on this platform: node:crypto computes Ed25519 signatures");
  }
  const keyRing = await KeyRing.open({
    persistence: keyPersistence(config, store, logger),
    algorithm: config.signingAlgorithm,
    clock,
    signatures: config.signingThreads > 0 ? new SigningThreads(config.signingThreads, logger) : inlineSignatures,
    ed25519,
  });
  const cacheMs = config.clientCacheSeconds * 1000;
  const clients = new LayeredClientRegistry([...clientsFromConfig(config), ...(options.extraClients ?? [])], {
    store,
    clock,
    cacheMs,
    maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
  });
  const assertions = new JwtClientAssertionVerifier({
    clients,
    store,
    clock,
    audiences: [issuer, tokenEndpointOf(issuer)],
    fetchJwks: createJwksUriFetch(config.clientJwksUris),
  });
  const metrics = new Metrics({
    http2Sessions: options.http2Sessions,
    signingKeyAges: () => keyRing.describe().filter((key) => key.published).map((key) => ({ kid: key.kid, ageSeconds: (clock.now() - key.createdAt) / 1000 })),
  });
  const limiter = new AuthRateLimiter({ store, clock, settings: config.rateLimits, events: metrics });
  const authenticator = new ClientAuthenticator(clients, assertions, limiter);
  const clientTokens = new ClientTokenIssuer({ authenticator, signer: keyRing, issuer, clock, events: metrics });
  const accessTokens = new JwtAccessTokenVerifier(keyRing, issuer, clock);
  const staticApiKeys = [...apiKeysFromConfig(config), ...(options.extraApiKeys ?? [])];
  const apiKeys = new LayeredApiKeyRegistry(staticApiKeys, { store, clock, cacheMs });
  // Held as long as a token can live: every entry still matters, no older one does.
  const feed = new ChangeFeed({ store, retainMs: config.maxTokenLifetimeSeconds * 1000 });
  const revocations = new RevocationList({ store, clock, feed });
  const cutoffs = new ClientTokenCutoffs({ store, clock });
  const activeTokens = new ActiveAccessTokens({ accessTokens, revocations, cutoffs, clients });
  const callers = new CallerAuthenticator({ clients: authenticator, activeTokens, apiKeys, limiter });
  const grants = new GrantIssuer({ apiKeys, store, clock, events: metrics, limiter });
  const introspectionLimiter = new CallerRateLimiter({
    clock,
    perSecond: config.rateLimits.introspectionsPerSecond,
    burst: config.rateLimits.introspectionsPerSecond * 2,
    onLimited: () => metrics.limited("caller"),
  });
  const introspector = new Introspector({ callers, activeTokens, store, issuer, clock, limiter: introspectionLimiter });
  const revoker = new TokenRevoker({ callers, accessTokens, revocations, store, events: metrics });
  // One poll of the store every feedPollMs serves the caches and every watcher on this instance.
  const follower = new FeedFollower({
    feed,
    caches: { clients, apiKeys, verifiedTokens: accessTokens, keyRing },
    pollMs: config.feedPollMs,
    logger,
  });
  const revocationWatch = new RevocationWatch({
    callers,
    feed,
    follower,
    publishedKids: () => keyRing.publicJwks().map((key) => key.kid),
    clock,
    heartbeatMs: config.watchHeartbeatSeconds * 1000,
    events: metrics,
  });
  const administration = new Administration({
    clients,
    apiKeys,
    keyRing,
    store,
    feed,
    callers,
    cutoffs,
    clock,
    settings: {
      defaultTokenLifetimeSeconds: config.defaultTokenLifetimeSeconds,
      maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
      secretOverlapSeconds: config.secretOverlapSeconds,
      signingKeyPublishDelaySeconds: config.signingKeys.publishDelaySeconds,
      jwksUriPolicy: config.clientJwksUris,
    },
  });
  return {
    config,
    issuer,
    clock,
    store,
    keyRing,
    clients,
    clientTokens,
    accessTokens,
    apiKeys,
    administration,
    grants,
    introspector,
    revoker,
    feed,
    follower,
    revocationWatch,
    logger,
    metrics,
    storeOutages: new StoreOutageLog({ logger, probe: () => store.ping(), intervalMs: config.storeOutageLogSeconds * 1000 }),
  };
}
