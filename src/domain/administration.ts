import type { KeyRing } from "../keys/key-ring.js";
import { withRotationLock } from "../keys/rotation-lock.js";
import type { Store } from "../store/store.js";
import type { AccessTokenClaims } from "./access-token.js";
import type { TokenEvents } from "./token-events.js";
import type { AuditActor, AuditPage, AuditQuery, AuditTrail } from "./audit-trail.js";
import { API_KEY_SETTINGS, GRANT_LIFETIME, type ApiKey, type ApiKeySettings } from "./api-key.js";
import type { LayeredApiKeyRegistry, StoredApiKey } from "./api-key-registry.js";
import { parseBearerAuthorization } from "./basic-credentials.js";
import type { CallerAuthenticator } from "./caller.js";
import type { ChangeFeed } from "./change-feed.js";
import { CLIENT_AUTH_METHODS, CLIENT_SETTINGS, DEFAULT_GRANT_TYPES, GRANT_TYPES, registeredAuthMethods, usesSecret, type Client, type ClientAuthMethod, type ClientSettings } from "./client.js";
import type { LayeredClientRegistry, StoredClient } from "./client-registry.js";
import { issuedAtMs, type ClientTokenCutoffs } from "./client-token-cutoffs.js";
import type { Clock } from "./clock.js";
import { OncePerWindow } from "./once-per-window.js";
import { pickFields } from "./field-list.js";
import { checkJwksUri, JwksUriError, type JwksUriPolicy } from "./jwks-uri-policy.js";
import { invalidClient, invalidRequest, OAuthError } from "./oauth-error.js";
import { ADMIN_SCOPE, grantScopes, normalizeScopes, TENANTS_SCOPE } from "./scopes.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";
import { containsSecret, generateSecret, hashSecret } from "./secret-format.js";
import { changeStored, notFound } from "./stored-change.js";
import { chooseAudience, claimsIssuedNow } from "./client-token-issuer.js";
import { MAX_LIVE_NAMED_TOKENS, type NamedAccessToken, type NamedAccessTokens } from "./named-access-tokens.js";
import type { RevocationList } from "./revocation-list.js";
import { trustedIssuerSchema } from "../config.js";
import type { StoredTrustedIssuer, TrustedIssuerRegistry } from "./trusted-issuer-registry.js";
import type { TrustedIssuer } from "./trusted-issuers.js";
import { hasTerminalControls } from "./terminal-controls.js";

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Refuses a client id that is not 1-128 letters, digits, '.', '_', '-' or ':', or that is a secret. */
export function checkClientId(id: string, field = "client id"): void {
  if (!CLIENT_ID.test(id)) throw invalidRequest(`${field} must be 1-128 letters, digits, '.', '_', '-' or ':'`);
  checkNotSecret(id, field);
}

/** A secret pasted into an id or a name would be kept, listed and logged as one: refused, without echoing it. */
function checkNotSecret(text: string, field: string): void {
  if (containsSecret(text)) throw invalidRequest(`${field} holds a Tokensmith secret (pasted into the wrong field?): choose another, and rotate that secret if it was shared`);
}
const API_KEY_NAME = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_PAGE_SIZE = 500;
const DEFAULT_PAGE_SIZE = 50;
/** admin.denied is recorded at most once per (client, method) per window on an instance; the keys remembered at most. */
export const DENIED_WINDOW_MS = 60_000;
const DENIED_MAX_KEYS = 10_000;

export interface AdministrationSettings {
  defaultTokenLifetimeSeconds: number;
  /** The longest lifetime a client of this tenant may be given. */
  maxTokenLifetimeSeconds: number;
  /**
   * The longest any token can live (the deployment's maximum): how long a
   * deletion's tombstone, a cut-off and a retired key are kept. Not the
   * tenant's own maximum, which may have been lowered after longer tokens were issued.
   */
  tokenRetentionSeconds: number;
  secretOverlapSeconds: number;
  signingKeyPublishDelaySeconds: number;
  jwksUriPolicy: JwksUriPolicy;
}

/** A client as administrators see it: never a secret or a hash. */
export type ClientView = ClientSettings & {
  source: "config" | "store";
  createdAt?: number;
  previousSecretExpiresAt?: number;
};

/** An API key as administrators see it: never the key or its hash. */
export type ApiKeyView = ApiKeySettings & {
  source: "config" | "store";
  createdAt?: number;
  keyPrefix?: string;
};

/** A trusted issuer as administrators see it. */
export type TrustedIssuerView = TrustedIssuer & { source: "config" | "store"; createdAt?: number };

/** A trusted issuer as an administrator gives it: keys as JWK Set JSON, claim conditions string-valued. */
export interface TrustedIssuerRequest {
  issuer: string;
  jwksJson: string;
  jwksUri: string;
  audiences: readonly string[];
  subjectMappings: ReadonlyArray<{ subject: string; clientId: string; claims: Readonly<Record<string, string>> }>;
}

/** The AdminService's field names for the config's, in validation messages. */
const TRUSTED_ISSUER_FIELDS: Record<string, string> = { jwks: "jwks_json", jwksUri: "jwks_uri", subjectMapping: "subject_mappings", clientId: "client_id" };

/**
 * The client fields a create or an update sets, as an administrator gives
 * them: keys as JWK Set JSON, methods by name (checked here). In an update,
 * a field present changes, and "", [] or 0 puts it back to its default.
 */
export type ClientChanges = Partial<Omit<ClientSettings, "id" | "jwks" | "tokenEndpointAuthMethods" | "grantTypes">> & {
  jwksJson?: string;
  /** RFC 7591 names; empty means the default for the client's keys. */
  tokenEndpointAuthMethods?: readonly string[];
  /** RFC 7591 names; empty means the default, client_credentials. */
  grantTypes?: readonly string[];
};

/** What CreateAccessToken asks for: scopes empty for all the client's, lifetime 0 for the client's. */
export interface NamedAccessTokenRequest {
  clientId: string;
  name: string;
  scopes: readonly string[];
  lifetimeSeconds: number;
}

const ACCESS_TOKEN_NAME_LENGTH = 100;

/** 1-100 characters, not blank, no control or bidi characters (a newline would blur the name index; see terminal-controls.ts). */
function checkAccessTokenName(name: string): string {
  if (name.trim() === "" || [...name].length > ACCESS_TOKEN_NAME_LENGTH || hasTerminalControls(name)) {
    throw invalidRequest(`name is required: 1-${ACCESS_TOKEN_NAME_LENGTH} characters, not blank, without control or bidi characters`);
  }
  checkNotSecret(name, "name");
  return name;
}

/** The API key fields an update sets; a field present changes. */
export type ApiKeyChanges = Partial<Omit<ApiKeySettings, "name">>;

/** Who an authorized administrator is: the token's claims, and the client and tenant that acted (a platform administrator's is the default). */
export interface AdminCaller {
  claims: AccessTokenClaims;
  actor: AuditActor;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export const alreadyExists = (what: string) => new OAuthError("invalid_request", "already_exists", `${what} already exists`);
const keysOnly = (id: string) =>
  new OAuthError(
    "invalid_request",
    "failed_precondition",
    `client "${id}" authenticates with private_key_jwt only and has no secret; add client_secret_basic or client_secret_post to its token_endpoint_auth_methods first`,
  );
const readOnly = (what: string) =>
  new OAuthError("invalid_request", "failed_precondition", `${what} is declared in the config file and is read-only here`);

/**
 * The AdminService's domain: clients, API keys and signing keys, guarded by
 * Tokensmith's own tokens (Bearer with `tokensmith:admin`). Secrets are
 * returned once, at creation or rotation, and only their hashes are stored.
 *
 * A change that ends a credential's power is written first, then announced
 * on the change feed. If the announcement fails the call answers
 * Unavailable although the change stands (the store cannot undo it
 * atomically); the administrator repeats it, which announces it again.
 */
export class Administration {
  constructor(
    private readonly deps: {
      /** Whose administration this is. */
      tenant: string;
      clients: LayeredClientRegistry;
      apiKeys: LayeredApiKeyRegistry;
      trustedIssuers: TrustedIssuerRegistry;
      keyRing: KeyRing;
      store: Store;
      feed: ChangeFeed;
      callers: CallerAuthenticator;
      cutoffs: ClientTokenCutoffs;
      /** The records of named access tokens (CreateAccessToken), the tenant's issuer that signs them, and the list that revokes them. */
      namedTokens: NamedAccessTokens;
      /** Counts the named tokens issued, with the other access tokens (tokensmith_tokens_issued_total). */
      events?: Pick<TokenEvents, "tokenIssued">;
      issuer: string;
      revocations: RevocationList;
      clock: Clock;
      settings: AdministrationSettings;
      /** The tenant's audit trail: the AdminService records its changes there (rpc/admin-audit.ts), and lists them. */
      audit: AuditTrail;
      /**
       * Checks a token as the default tenant's authorizePlatform does (and
       * that this tenant still exists): platform administrators administer
       * every tenant. Absent for the default tenant and the stand-in for
       * unknown ones.
       */
      platformAdministrator?: (authorization: string) => Promise<AccessTokenClaims>;
    },
  ) {
    this.denials = new OncePerWindow({ clock: deps.clock, windowMs: DENIED_WINDOW_MS, maxKeys: DENIED_MAX_KEYS });
  }

  private readonly denials: OncePerWindow;

  /**
   * Only a valid, unrevoked Bearer access token with `tokensmith:admin`, whose
   * client the store still holds with that scope, may administer: checked
   * against the store on every call, so an admin deleted or demoted on
   * another instance cannot act here in the meantime.
   *
   * In a tenant other than the default, a platform administrator's token
   * (default tenant, `tokensmith:tenants`) may too, checked the same way,
   * but only when the token is nothing in this tenant: one valid here that
   * lacks the scope stays PermissionDenied. When it is no platform
   * administrator's either, the answer is this tenant's own refusal.
   */
  async authorize(authorization: string | null | undefined): Promise<AdminCaller> {
    const bearer = parseBearerAuthorization(authorization);
    if (bearer === undefined) throw invalidClient("administration needs Authorization: Bearer <access token with tokensmith:admin>");
    try {
      const { claims } = await this.deps.callers.bearer(bearer, [ADMIN_SCOPE], { changesState: true });
      return { claims, actor: { clientId: claims.client_id, tenant: this.deps.tenant } };
    } catch (error) {
      const platform = this.deps.platformAdministrator;
      if (platform === undefined || !(error instanceof OAuthError) || error.kind !== "unauthenticated") throw error;
      try {
        const claims = await platform(authorization!);
        return { claims, actor: { clientId: claims.client_id, tenant: DEFAULT_TENANT } };
      } catch (refusal) {
        // A refusal is answered as this tenant's own; a store that failed, as Unavailable like any call.
        if (refusal instanceof OAuthError && (refusal.kind === "unauthenticated" || refusal.kind === "permission_denied")) throw error;
        throw refusal;
      }
    }
  }

  /**
   * Managing tenants is for platform administrators only: a Bearer token of
   * a client of the default tenant with `tokensmith:tenants`, checked as
   * `authorize` checks an admin. A token of another tenant is checked in its
   * own tenant (where the call was addressed), so a tenant's admin, even one
   * that gave a client of its tenant that scope, is refused.
   */
  async authorizePlatform(authorization: string | null | undefined): Promise<AdminCaller> {
    const bearer = parseBearerAuthorization(authorization);
    if (bearer === undefined) {
      throw invalidClient(`managing tenants needs Authorization: Bearer <access token with ${TENANTS_SCOPE}> of a client of the default tenant`);
    }
    const { claims } = await this.deps.callers.bearer(bearer, [TENANTS_SCOPE], { changesState: true });
    if (this.deps.tenant !== DEFAULT_TENANT) {
      throw new OAuthError(
        "access_denied",
        "permission_denied",
        `tenants are managed by platform administrators only: a client of the default tenant with ${TENANTS_SCOPE}, calling without a tenant path or header`,
        { clientId: claims.client_id },
      );
    }
    return { claims, actor: { clientId: claims.client_id, tenant: DEFAULT_TENANT } };
  }

  /**
   * Whether a refusal of `method` to `clientId` is to be recorded as
   * admin.denied: once per client and method per DENIED_WINDOW_MS on this
   * instance, so a token without the scope cannot write the store on every
   * call. Undefined when held back; else the refusals held back since the
   * last one recorded.
   */
  admitDenied(clientId: string, method: string): { heldBack: number } | undefined {
    return this.denials.admit(JSON.stringify([clientId, method]));
  }

  /** The tenant's audit trail, where the AdminService records what it changed. */
  get auditTrail(): AuditTrail {
    return this.deps.audit;
  }

  /** The tenant's audit events, newest first (AuditTrail.list). */
  listAuditEvents(query: AuditQuery): Promise<AuditPage> {
    return this.deps.audit.list(query);
  }

  // --- clients -------------------------------------------------------------

  /** The secret is returned once, and only to a client whose methods use one. */
  async createClient(request: { id?: string } & ClientChanges): Promise<{ client: ClientView; secret?: string }> {
    const id = request.id && request.id.length > 0 ? request.id : `client-${generateSecret("client_secret").slice(7, 19).toLowerCase()}`;
    checkClientId(id);
    const record: StoredClient = {
      id,
      secrets: [],
      scopes: [],
      audiences: [],
      tokenLifetimeSeconds: this.deps.settings.defaultTokenLifetimeSeconds,
      createdAt: this.deps.clock.now(),
    };
    this.applyClientChanges(record, request);
    record.tokenEndpointAuthMethods = registeredAuthMethods(record);
    record.grantTypes ??= DEFAULT_GRANT_TYPES;
    const secret = usesSecret(record.tokenEndpointAuthMethods) ? generateSecret("client_secret") : undefined;
    if (secret !== undefined) record.secrets = [{ hash: hashSecret(secret) }];
    if (!(await this.deps.clients.create(record))) throw alreadyExists(`client "${id}"`);
    return { client: this.viewStored(record), ...(secret !== undefined ? { secret } : {}) };
  }

  async getClient(id: string): Promise<ClientView> {
    const fixed = this.fixedClient(id);
    if (fixed !== undefined) return viewFixed(fixed);
    return this.viewStored(await this.storedClient(id));
  }

  async listClients(pageSize: number, pageToken: string): Promise<Page<ClientView>> {
    const all = [...this.deps.clients.fixedClients().map(viewFixed), ...(await this.deps.clients.allStored()).map((record) => this.viewStored(record))];
    return paginate(all, (client) => client.id, pageSize, pageToken);
  }

  /** The tenant's token lifetimes: what a client created without one gets, and the longest one may have. */
  get tokenLifetimes(): { defaultSeconds: number; maxSeconds: number } {
    return { defaultSeconds: this.deps.settings.defaultTokenLifetimeSeconds, maxSeconds: this.deps.settings.maxTokenLifetimeSeconds };
  }

  async updateClient(id: string, changes: ClientChanges): Promise<ClientView> {
    if (this.fixedClient(id) !== undefined) throw readOnly(`client "${id}"`);
    const record = await this.changeClient(id, (record) => {
      // Written out, so that changing the keys never silently changes a defaulted method.
      record.tokenEndpointAuthMethods = registeredAuthMethods(record);
      if (changes.jwksJson !== undefined) delete record.jwks;
      if (changes.jwksUri !== undefined) delete record.jwksUri;
      this.applyClientChanges(record, changes);
    });
    await this.deps.feed.append({ type: "client_changed", clientId: id });
    return this.viewStored(record);
  }

  async rotateClientSecret(id: string, overlapSeconds: number): Promise<{ client: ClientView; secret: string }> {
    if (this.fixedClient(id) !== undefined) throw readOnly(`client "${id}"`);
    if (overlapSeconds < 0 || overlapSeconds > 30 * 86_400) throw invalidRequest("overlap_seconds must be between 0 and 30 days");
    const now = this.deps.clock.now();
    const overlapMs = (overlapSeconds > 0 ? overlapSeconds : this.deps.settings.secretOverlapSeconds) * 1000;
    const secret = generateSecret("client_secret");
    const record = await this.changeClient(id, (record) => {
      if (!usesSecret(registeredAuthMethods(record))) throw keysOnly(id);
      const previous = record.secrets
        .filter((stored) => stored.expiresAt === undefined || stored.expiresAt > now)
        .map((stored) => ({ hash: stored.hash, expiresAt: Math.min(stored.expiresAt ?? Number.POSITIVE_INFINITY, now + overlapMs) }));
      record.secrets = [{ hash: hashSecret(secret) }, ...previous];
    });
    await this.deps.feed.append({ type: "client_changed", clientId: id });
    return { client: this.viewStored(record), secret };
  }

  async deleteClient(id: string): Promise<void> {
    if (this.fixedClient(id) !== undefined) throw readOnly(`client "${id}"`);
    await this.storedClient(id, { fresh: true });
    // Resource servers that verify locally know no clients: to them a deletion is a cut-off of all its tokens,
    // announced first so that a failure leaves the client in place for a retry. It reaches to the end of the
    // current second, covering tokens another instance issues from its cache until it hears of the deletion;
    // a client created again with this id starts in the next second (ClientRegistry.create), past the cut-off.
    await this.cutOffTokens(id, (Math.floor(this.deps.clock.now() / 1000) + 1) * 1000 - 1);
    if (!(await this.deps.clients.delete(id, this.deps.settings.tokenRetentionSeconds * 1000))) throw notFound(`client "${id}"`);
    await this.deps.feed.append({ type: "client_changed", clientId: id });
    // Its named tokens died with it (the cut-off above): their records go too.
    await this.deps.namedTokens.removeClient(id);
  }

  /**
   * The kill switch after a leak: every token the client was issued up to now
   * is inactive on every instance; the client stays. Allowed on config
   * clients too: it changes none of their settings. Resolves the cut-off (ms).
   */
  async revokeClientTokens(id: string): Promise<number> {
    if (this.fixedClient(id) === undefined) await this.storedClient(id, { fresh: true });
    return this.cutOffTokens(id);
  }

  private async cutOffTokens(id: string, at?: number): Promise<number> {
    const cutoff = await this.deps.cutoffs.revokeAll(id, this.deps.settings.tokenRetentionSeconds * 1000, at);
    // A token issued in the cut-off's own millisecond counts as before it (ClientTokenCutoffs): exclusive bound cutoff + 1.
    await this.deps.feed.append({ type: "client_tokens_revoked", clientId: id, issuedBeforeMs: cutoff + 1 });
    return cutoff;
  }


  // --- named access tokens --------------------------------------------------

  /**
   * An ordinary access token of the client (as the client credentials grant
   * issues, to the client itself), issued by an administrator under a name;
   * config clients too, as it changes none of their settings. The token is
   * returned once; only its record is kept, while the token lives.
   */
  async createAccessToken(request: NamedAccessTokenRequest, createdBy: string): Promise<{ record: NamedAccessToken; token: string }> {
    const name = checkAccessTokenName(request.name);
    const max = this.deps.settings.maxTokenLifetimeSeconds;
    const lifetime = request.lifetimeSeconds;
    if (!Number.isInteger(lifetime) || lifetime < 0 || lifetime > max) throw invalidRequest(`lifetime_seconds must be between 1 and ${max} (0: the client's)`);
    const client = await this.deps.clients.findFresh(request.clientId);
    if (client === undefined) throw notFound(`client "${request.clientId}"`);
    const scopes = grantScopes(request.scopes, client.scopes);
    const aud = chooseAudience([], client.audiences, this.deps.issuer);
    const tokenLifetimeSeconds = lifetime === 0 ? Math.min(client.tokenLifetimeSeconds, max) : lifetime;
    const claims = claimsIssuedNow(this.deps, { ...client, tokenLifetimeSeconds }, { sub: client.id, aud, scopes });
    const token = await this.deps.keyRing.sign(claims);
    const record: NamedAccessToken = {
      id: claims.jti,
      name,
      clientId: client.id,
      scopes,
      audiences: aud,
      createdAt: issuedAtMs(claims),
      expiresAt: claims.exp * 1000,
      createdBy,
    };
    const added = await this.deps.namedTokens.add(record);
    if (added === "name_taken") throw alreadyExists(`an access token named "${name}" of client "${client.id}"`);
    if (added === "full") {
      throw new OAuthError("invalid_request", "failed_precondition", `the tenant has ${MAX_LIVE_NAMED_TOKENS} live named access tokens, the most it may have: revoke some first`);
    }
    this.deps.events?.tokenIssued("access_token");
    return { record, token };
  }

  /** The live named tokens, by name (then client and id), optionally one client's. */
  async listAccessTokens(clientId: string, pageSize: number, pageToken: string): Promise<Page<NamedAccessToken>> {
    const live = (await this.deps.namedTokens.live()).filter((record) => clientId === "" || record.clientId === clientId);
    return paginate(live, (record) => `${record.name}\n${record.clientId}\n${record.id}`, pageSize, pageToken);
  }

  /** Revoked as Revoke does (the revocation list and its feed entry): inactive on every instance and verifier. */
  async revokeAccessToken(id: string): Promise<NamedAccessToken> {
    const record = await this.deps.namedTokens.find(id);
    if (record === undefined) throw notFound(`access token "${id.slice(0, 64)}"`);
    await this.deps.revocations.revoke(record.id, Math.floor(record.expiresAt / 1000));
    await this.deps.namedTokens.remove(record);
    return record;
  }

  // --- API keys ------------------------------------------------------------

  async createApiKey(request: ApiKeySettings): Promise<{ apiKey: ApiKeyView; key: string }> {
    if (!API_KEY_NAME.test(request.name)) throw invalidRequest("API key name must be 1-128 letters, digits, '.', '_', '-' or ':'");
    checkNotSecret(request.name, "API key name");
    const scopes = normalizeScopes(request.scopes);
    if (scopes.length === 0) throw invalidRequest("an API key needs at least one scope");
    const key = generateSecret("api_key");
    const record: StoredApiKey = {
      name: request.name,
      keyHash: hashSecret(key),
      keyPrefix: `${key.slice(0, 11)}…`,
      scopes,
      grantLifetimeSeconds: checkGrantLifetime(request.grantLifetimeSeconds),
      createdAt: this.deps.clock.now(),
    };
    if (!(await this.deps.apiKeys.create(record))) throw alreadyExists(`API key "${request.name}"`);
    // A follower may remember that no key had this name or hash.
    await this.deps.feed.append({ type: "api_key_changed", name: record.name });
    return { apiKey: viewStoredKey(record), key };
  }

  async listApiKeys(pageSize: number, pageToken: string): Promise<Page<ApiKeyView>> {
    const all: ApiKeyView[] = [
      ...this.deps.apiKeys.fixedKeys().map(viewFixedKey),
      ...(await this.deps.apiKeys.allStored()).map(viewStoredKey),
    ];
    return paginate(all, (key) => key.name, pageSize, pageToken);
  }

  async updateApiKey(name: string, changes: ApiKeyChanges): Promise<ApiKeyView> {
    if (this.deps.apiKeys.fixedKeys().some((key) => key.name === name)) throw readOnly(`API key "${name}"`);
    const record = await changeStored(
      `API key "${name}"`,
      { read: () => this.deps.apiKeys.findStoredByName(name), write: (record, revision) => this.deps.apiKeys.save(record, revision) },
      (record) => {
        if (changes.scopes !== undefined) {
          const scopes = normalizeScopes(changes.scopes);
          if (scopes.length === 0) throw invalidRequest("an API key needs at least one scope");
          record.scopes = scopes;
        }
        if (changes.grantLifetimeSeconds !== undefined) record.grantLifetimeSeconds = checkGrantLifetime(changes.grantLifetimeSeconds);
        return true;
      },
    );
    await this.deps.feed.append({ type: "api_key_changed", name });
    return viewStoredKey(record);
  }

  async deleteApiKey(name: string): Promise<void> {
    if (this.deps.apiKeys.fixedKeys().some((key) => key.name === name)) throw readOnly(`API key "${name}"`);
    const stored = await this.deps.apiKeys.findStoredByName(name);
    if (stored === undefined || !(await this.deps.apiKeys.delete(stored.record))) throw notFound(`API key "${name}"`);
    await this.deps.feed.append({ type: "api_key_changed", name });
  }

  // --- trusted external issuers ---------------------------------------------

  /**
   * Validated as the config file's trustedIssuers are (the same schema, the
   * clientJwksUris policy), then stored and announced: followers may have
   * remembered that the issuer was not trusted.
   */
  async createTrustedIssuer(request: TrustedIssuerRequest): Promise<TrustedIssuerView> {
    const trusted = this.parseTrustedIssuer(request);
    const record: StoredTrustedIssuer = { ...trusted, createdAt: this.deps.clock.now() };
    if (!(await this.deps.trustedIssuers.create(record))) throw alreadyExists(`trusted issuer "${trusted.issuer}"`);
    await this.deps.feed.append({ type: "trusted_issuers_changed" });
    return viewStoredIssuer(record);
  }

  async listTrustedIssuers(pageSize: number, pageToken: string): Promise<Page<TrustedIssuerView>> {
    const all: TrustedIssuerView[] = [
      ...this.deps.trustedIssuers.declared().map((trusted): TrustedIssuerView => ({ ...trusted, source: "config" })),
      ...(await this.deps.trustedIssuers.allStored()).map(viewStoredIssuer),
    ];
    return paginate(all, (trusted) => trusted.issuer, pageSize, pageToken);
  }

  /** Its tokens are refused here at once, and on every instance once it has read the announcement. */
  async deleteTrustedIssuer(issuer: string): Promise<void> {
    if (this.deps.trustedIssuers.isDeclared(issuer)) throw readOnly(`trusted issuer "${issuer}"`);
    if (!(await this.deps.trustedIssuers.delete(issuer))) throw notFound(`trusted issuer "${issuer}"`);
    await this.deps.feed.append({ type: "trusted_issuers_changed" });
  }

  private parseTrustedIssuer(request: TrustedIssuerRequest): TrustedIssuer {
    let jwks: unknown;
    if (request.jwksJson !== "") {
      try {
        jwks = JSON.parse(request.jwksJson);
      } catch {
        throw invalidRequest("jwks_json is not valid JSON");
      }
    }
    const parsed = trustedIssuerSchema.safeParse({
      issuer: request.issuer,
      ...(jwks !== undefined ? { jwks } : {}),
      ...(request.jwksUri !== "" ? { jwksUri: request.jwksUri } : {}),
      audiences: request.audiences,
      subjectMapping: request.subjectMappings.map((mapping) => ({
        subject: mapping.subject,
        clientId: mapping.clientId,
        ...(Object.keys(mapping.claims).length > 0 ? { claims: { ...mapping.claims } } : {}),
      })),
    });
    if (!parsed.success) {
      const named = (text: string) => text.replace(/\b(jwksUri|jwks|subjectMapping|clientId)\b/g, (field) => TRUSTED_ISSUER_FIELDS[field] ?? field);
      throw invalidRequest(parsed.error.issues.map((issue) => `${named(issue.path.join("."))}: ${named(issue.message)}`).join("; "));
    }
    const trusted = parsed.data as TrustedIssuer;
    if (trusted.jwksUri !== undefined) {
      try {
        checkJwksUri(trusted.jwksUri, this.deps.settings.jwksUriPolicy);
      } catch (error) {
        if (error instanceof JwksUriError) throw invalidRequest(`jwks_uri: ${error.message}`);
        throw error;
      }
    }
    return trusted;
  }

  // --- signing keys --------------------------------------------------------

  async listSigningKeys() {
    await this.deps.keyRing.reload();
    return this.deps.keyRing.describe();
  }

  /** Under the rotation lock that scheduled rotation takes: refused while another rotation holds it. */
  async rotateSigningKey() {
    const rotation = await withRotationLock(this.deps.store, () =>
      this.deps.keyRing.rotate({
        publishDelayMs: this.deps.settings.signingKeyPublishDelaySeconds * 1000,
        retireAfterMs: this.deps.settings.tokenRetentionSeconds * 1000,
      }),
    );
    if (!rotation.locked) {
      throw new OAuthError(
        "invalid_request",
        "failed_precondition",
        "another signing key rotation is in progress (scheduled, or on another instance): list the signing keys, and try again if you still need a new one",
      );
    }
    await this.deps.feed.append({ type: "signing_keys_changed" });
    return this.deps.keyRing.describe().find((key) => key.kid === rotation.value.kid)!;
  }

  // --- helpers -------------------------------------------------------------

  private fixedClient(id: string): Client | undefined {
    return this.deps.clients.fixedClients().find((client) => client.id === id);
  }

  private async storedClient(id: string, options: { fresh?: boolean } = {}): Promise<StoredClient> {
    const record = options.fresh ? await this.deps.clients.storedFresh(id) : await this.deps.clients.stored(id);
    if (record === null) throw notFound(`client "${id}"`);
    return record;
  }

  /**
   * The stored client `id` as `change` edits it, written back only if no
   * other call wrote or deleted it meanwhile (see changeStored): an update
   * or rotation that read the client before DeleteClient removed it answers
   * NotFound instead of bringing it back, secrets and all.
   */
  private changeClient(id: string, change: (record: StoredClient) => void): Promise<StoredClient> {
    return changeStored(
      `client "${id}"`,
      { read: () => this.deps.clients.storedRevised(id), write: (record, revision) => this.deps.clients.save(record, revision) },
      (record) => {
        change(record);
        return true;
      },
    );
  }

  private applyClientChanges(record: StoredClient, fields: ClientChanges): void {
    if (fields.scopes !== undefined) record.scopes = normalizeScopes(fields.scopes);
    if (fields.audiences !== undefined) {
      if (fields.audiences.length > 20 || fields.audiences.some((aud) => aud.length === 0 || aud.length > 512 || /\s/.test(aud) || hasTerminalControls(aud))) {
        throw invalidRequest("audiences: at most 20, each 1-512 characters without spaces, control or bidi characters");
      }
      record.audiences = [...new Set(fields.audiences)];
    }
    if (fields.tokenLifetimeSeconds !== undefined && fields.tokenLifetimeSeconds !== 0) {
      const max = this.deps.settings.maxTokenLifetimeSeconds;
      if (!Number.isInteger(fields.tokenLifetimeSeconds) || fields.tokenLifetimeSeconds < 1 || fields.tokenLifetimeSeconds > max) {
        throw invalidRequest(`token_lifetime_seconds must be between 1 and ${max}`);
      }
      record.tokenLifetimeSeconds = fields.tokenLifetimeSeconds;
    } else if (fields.tokenLifetimeSeconds === 0) {
      record.tokenLifetimeSeconds = this.deps.settings.defaultTokenLifetimeSeconds;
    }
    if (fields.jwksJson) record.jwks = parsePublicJwks(fields.jwksJson);
    if (fields.jwksUri) {
      try {
        record.jwksUri = checkJwksUri(fields.jwksUri, this.deps.settings.jwksUriPolicy).toString();
      } catch (error) {
        if (error instanceof JwksUriError) throw invalidRequest(error.message);
        throw error;
      }
    }
    if (record.jwks && record.jwksUri) throw invalidRequest("set jwks_json or jwks_uri, not both");
    if (fields.tokenEndpointAuthMethods !== undefined) record.tokenEndpointAuthMethods = parseAuthMethods(fields.tokenEndpointAuthMethods, record);
    if (fields.grantTypes !== undefined) record.grantTypes = parseNames("grant_types", "grant type", fields.grantTypes, GRANT_TYPES) ?? DEFAULT_GRANT_TYPES;
    const methods = registeredAuthMethods(record);
    if (methods.includes("private_key_jwt") && !record.jwks && !record.jwksUri) throw invalidRequest("private_key_jwt needs jwks_json or jwks_uri");
    // A client that no longer authenticates by secret keeps none.
    if (!usesSecret(methods)) record.secrets = [];
  }

  private viewStored(record: StoredClient): ClientView {
    const now = this.deps.clock.now();
    const previous = record.secrets.filter((secret) => secret.expiresAt !== undefined && secret.expiresAt > now);
    return {
      ...viewFixed(this.deps.clients.toClient(record)),
      source: "store",
      createdAt: record.createdAt,
      ...(previous.length > 0 ? { previousSecretExpiresAt: Math.max(...previous.map((secret) => secret.expiresAt!)) } : {}),
    };
  }
}

/** The public view of a client (never a secret or hash); config clients are exactly this. */
function viewFixed(client: Client): ClientView {
  return { ...pickFields<ClientSettings>(client, CLIENT_SETTINGS), source: "config" };
}

function viewStoredIssuer(record: StoredTrustedIssuer): TrustedIssuerView {
  const { createdAt, ...trusted } = record;
  return { ...trusted, source: "store", createdAt };
}

function viewFixedKey(key: ApiKey): ApiKeyView {
  return { ...pickFields<ApiKeySettings>(key, API_KEY_SETTINGS), source: "config" };
}

function viewStoredKey(record: StoredApiKey): ApiKeyView {
  return { ...pickFields<ApiKeySettings>(record, API_KEY_SETTINGS), source: "store", createdAt: record.createdAt, keyPrefix: record.keyPrefix };
}

function checkGrantLifetime(seconds: number): number {
  if (seconds === 0) return GRANT_LIFETIME.defaultSeconds;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > GRANT_LIFETIME.maxSeconds) {
    throw invalidRequest(`grant_lifetime_seconds must be between 1 and ${GRANT_LIFETIME.maxSeconds}`);
  }
  return seconds;
}

function parseAuthMethods(values: readonly string[], record: StoredClient): readonly ClientAuthMethod[] {
  return parseNames("token_endpoint_auth_methods", "method", values, CLIENT_AUTH_METHODS) ?? registeredAuthMethods({ jwks: record.jwks, jwksUri: record.jwksUri });
}

/** A list of RFC 7591 names, each one of `known` and none twice; undefined for an empty list (the default). */
function parseNames<T extends string>(field: string, what: string, values: readonly string[], known: readonly T[]): readonly T[] | undefined {
  if (values.length === 0) return undefined;
  const unknown = values.find((value) => !(known as readonly string[]).includes(value));
  if (unknown !== undefined) throw invalidRequest(`${field}: "${unknown.slice(0, 64)}" is not one of ${known.join(", ")}`);
  if (new Set(values).size !== values.length) throw invalidRequest(`${field} names a ${what} more than once`);
  return values as T[];
}

function parsePublicJwks(json: string): { keys: object[] } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw invalidRequest("jwks_json is not valid JSON");
  }
  const keys = (value as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 20) throw invalidRequest("jwks_json must be a JWK Set with 1-20 keys");
  for (const key of keys) {
    if (typeof key !== "object" || key === null || typeof (key as { kty?: unknown }).kty !== "string") {
      throw invalidRequest("every key in jwks_json needs a kty");
    }
    if (["d", "p", "q", "dp", "dq", "qi", "k"].some((member) => member in key)) {
      throw invalidRequest("jwks_json must hold public keys only");
    }
  }
  return { keys: keys as object[] };
}

export function paginate<T>(items: T[], keyOf: (item: T) => string, pageSize: number, pageToken: string): Page<T> {
  if (pageSize < 0) throw invalidRequest("page_size must not be negative");
  const size = Math.min(pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize, MAX_PAGE_SIZE);
  let after = "";
  if (pageToken !== "") {
    after = Buffer.from(pageToken, "base64url").toString("utf8");
    if (after.length === 0) throw invalidRequest("page_token is malformed");
  }
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const rest = after === "" ? sorted : sorted.filter((item) => keyOf(item) > after);
  const page = rest.slice(0, size);
  const nextPageToken = rest.length > size ? Buffer.from(keyOf(page[page.length - 1]!)).toString("base64url") : "";
  return { items: page, nextPageToken };
}
