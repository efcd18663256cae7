import type { Logger } from "pino";
import type { Client } from "./domain/client.js";
import { StaticClientRegistry } from "./domain/client.js";
import { ClientAuthenticator } from "./domain/client-authenticator.js";
import { ClientTokenIssuer } from "./domain/client-token-issuer.js";
import type { Clock } from "./domain/clock.js";
import type { Config } from "./config.js";
import { JwtAccessTokenVerifier } from "./keys/access-token-verifier.js";
import { EphemeralKeyPersistence, FileKeyPersistence, KeyRing } from "./keys/key-ring.js";
import type { Store } from "./store/store.js";

/** Everything a transport needs, wired once. The domain gets a Store and a clock, nothing else. */
export interface Domain {
  config: Config;
  issuer: string;
  clock: Clock;
  store: Store;
  keyRing: KeyRing;
  clients: StaticClientRegistry;
  clientTokens: ClientTokenIssuer;
  accessTokens: JwtAccessTokenVerifier;
  logger: Logger;
}

export function clientsFromConfig(config: Config): Client[] {
  return config.clients.map((client) => ({
    id: client.id,
    secretHashes: client.secretHashes,
    scopes: client.scopes,
    audiences: client.audiences,
    tokenLifetimeSeconds: client.tokenLifetimeSeconds ?? config.defaultTokenLifetimeSeconds,
    source: "config" as const,
  }));
}

export async function createDomain(options: {
  config: Config;
  issuer: string;
  clock: Clock;
  store: Store;
  logger: Logger;
  extraClients?: Client[];
}): Promise<Domain> {
  const { config, issuer, clock, store, logger } = options;
  const keyRing = await KeyRing.open({
    persistence: config.dataDir ? new FileKeyPersistence(config.dataDir) : new EphemeralKeyPersistence(),
    algorithm: config.signingAlgorithm,
    clock,
  });
  const clients = new StaticClientRegistry([...clientsFromConfig(config), ...(options.extraClients ?? [])]);
  const authenticator = new ClientAuthenticator(clients);
  const clientTokens = new ClientTokenIssuer({ authenticator, signer: keyRing, issuer, clock });
  const accessTokens = new JwtAccessTokenVerifier(keyRing, issuer, clock);
  return { config, issuer, clock, store, keyRing, clients, clientTokens, accessTokens, logger };
}
