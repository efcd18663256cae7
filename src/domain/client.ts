import { OAuthError } from "./oauth-error.js";
import type { FieldList } from "./field-list.js";

/**
 * Client authentication methods, by their RFC 7591 §2 names; what RFC 8414
 * metadata advertises. `federated_jwt` is Tokensmith's own: a JWT of a
 * trusted external issuer (trustedIssuers) whose subject maps to the client,
 * presented as an RFC 7523 §2.2 client_assertion; metadata does not list it.
 */
export const CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "federated_jwt"] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** RFC 8693 token exchange, by its RFC 7591 / RFC 8414 name. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";

/** Grant types a client may be registered for, by their RFC 7591 §2 names; what RFC 8414 metadata advertises. */
export const GRANT_TYPES = ["client_credentials", TOKEN_EXCHANGE_GRANT] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** What a client may use when nothing says otherwise (config entries and records older than the field). */
export const DEFAULT_GRANT_TYPES: readonly GrantType[] = Object.freeze(["client_credentials"]);

/** No access token lives longer than a day, whatever the configuration says. */
export const TOKEN_LIFETIME_LIMIT_SECONDS = 86_400;

/**
 * RFC 7591 has one `token_endpoint_auth_method` defaulting to
 * client_secret_basic; Tokensmith keeps a list so that a client without keys
 * keeps both secret methods it always had. Keys given: private_key_jwt only,
 * so a key-only client has no secret.
 */
export function defaultAuthMethods(hasKeys: boolean): ClientAuthMethod[] {
  return hasKeys ? ["private_key_jwt"] : ["client_secret_basic", "client_secret_post"];
}

/** Whether the methods authenticate by a client secret (so the client has one). */
export const usesSecret = (methods: readonly string[]) => methods.some((method) => method === "client_secret_basic" || method === "client_secret_post");

/**
 * What is registered about a client apart from its credentials: the one
 * definition of a client's fields. The domain's Client (below), the stored
 * record (client-registry.ts), the config entry (config.ts), the admin view
 * (administration.ts) and the wire message (rpc/admin-messages.ts) are this
 * plus what each of them adds.
 */
export interface ClientSettings {
  id: string;
  /** Scopes the client may be granted. */
  scopes: readonly string[];
  /** Audiences (RFC 8707 resource indicators) the client may request; the default `aud` when none is requested. */
  audiences: readonly string[];
  tokenLifetimeSeconds: number;
  /** The only methods it may authenticate with; any other is invalid_client. */
  tokenEndpointAuthMethods: readonly ClientAuthMethod[];
  /** The grant types it may use at the token endpoint; any other is unauthorized_client. */
  grantTypes: readonly GrantType[];
  /** Public keys for private_key_jwt (RFC 7523), inline... */
  jwks?: { keys: readonly object[] };
  /** ...or fetched (and cached) from a URL. */
  jwksUri?: string;
}

export const CLIENT_SETTINGS = {
  id: true,
  scopes: true,
  audiences: true,
  tokenLifetimeSeconds: true,
  tokenEndpointAuthMethods: true,
  grantTypes: true,
  jwks: true,
  jwksUri: true,
} as const satisfies FieldList<ClientSettings>;

/**
 * The methods registered for a client; where none are written down (config
 * entries that leave them out, records older than the field) the default for
 * its keys.
 */
export function registeredAuthMethods(
  client: Pick<ClientSettings, "jwks" | "jwksUri"> & { tokenEndpointAuthMethods?: readonly ClientAuthMethod[] | undefined },
): readonly ClientAuthMethod[] {
  return client.tokenEndpointAuthMethods ?? defaultAuthMethods(Boolean(client.jwks || client.jwksUri));
}

/** The grant types registered for a client; where none are written down, the default. */
export function registeredGrantTypes(client: { grantTypes?: readonly GrantType[] | undefined }): readonly GrantType[] {
  return client.grantTypes ?? DEFAULT_GRANT_TYPES;
}

/** Refuses a grant type the client is not registered for (RFC 6749 §5.2 unauthorized_client). */
export function requireGrantType(client: Pick<ClientSettings, "id" | "grantTypes">, grantType: GrantType): void {
  if (!client.grantTypes.includes(grantType)) {
    throw new OAuthError("unauthorized_client", "permission_denied", `client "${client.id}" is not registered for the grant type ${grantType} (grant_types)`);
  }
}

/** A registered OAuth client, as the domain sees it. */
export interface Client extends ClientSettings {
  /** Hashes of the secrets that currently authenticate this client (more than one during rotation). */
  secretHashes: readonly string[];
  /** When it was created (ms); tokens issued before it belong to an earlier client of the same id. 0 for config clients. */
  createdAt?: number;
  /** Where the record comes from: the config file (read-only), the store, or the start-up demo. */
  source: "config" | "store" | "demo";
}

/**
 * The one way a Client is made (config file, store, demo): the same
 * properties in the same order, written out rather than spread, so that the
 * request path, which reads a client on every call, sees one object shape
 * (see test/rpc/hot-path-object-literals.test.ts).
 */
export function clientOf(
  settings: Pick<ClientSettings, "id" | "scopes" | "audiences" | "jwks" | "jwksUri">,
  rest: Pick<Client, "tokenLifetimeSeconds" | "tokenEndpointAuthMethods" | "grantTypes" | "secretHashes" | "createdAt" | "source">,
): Client {
  return {
    id: settings.id,
    secretHashes: rest.secretHashes,
    scopes: settings.scopes,
    audiences: settings.audiences,
    tokenLifetimeSeconds: rest.tokenLifetimeSeconds,
    tokenEndpointAuthMethods: rest.tokenEndpointAuthMethods,
    grantTypes: rest.grantTypes,
    ...(settings.jwks ? { jwks: settings.jwks } : {}),
    ...(settings.jwksUri ? { jwksUri: settings.jwksUri } : {}),
    ...(rest.createdAt !== undefined ? { createdAt: rest.createdAt } : {}),
    source: rest.source,
  };
}

export interface ClientRegistry {
  find(clientId: string): Promise<Client | undefined>;
  /**
   * The client as the store holds it now, past any per-instance cache: what
   * a call that changes state checks, so a client deleted or changed on
   * another instance has lost its power once that instance acknowledged it.
   */
  findFresh(clientId: string): Promise<Client | undefined>;
  /**
   * The answer `find` would give, when it is in memory right now: the client,
   * `null` for a known absence, `undefined` when only `find` can tell. While
   * a client's record and secrets stay the same, every answer is the same
   * object, so identity tells callers that nothing changed.
   */
  peek?(clientId: string): Client | null | undefined;
}

/** Clients known at start-up (config file, demo client). */
export class StaticClientRegistry implements ClientRegistry {
  private readonly clients: Map<string, Client>;
  constructor(clients: readonly Client[]) {
    this.clients = new Map(clients.map((client) => [client.id, client]));
  }
  async find(clientId: string): Promise<Client | undefined> {
    return this.clients.get(clientId);
  }
  findFresh(clientId: string): Promise<Client | undefined> {
    return this.find(clientId);
  }
  peek(clientId: string): Client | null {
    return this.clients.get(clientId) ?? null;
  }
  all(): Client[] {
    return [...this.clients.values()];
  }
}
