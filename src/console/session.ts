/**
 * The console's session: an access token with the scope tokensmith:admin,
 * tokensmith:tenants (a platform administrator's), or both, from
 * IssueClientToken with the default tenant's client id and secret in a Basic
 * header. The token is kept in this object and in the tab's sessionStorage
 * (no localStorage, no cookie), so reloading the tab resumes the session
 * until the token expires, while another tab, or the tab once closed, has
 * none; the secret is used for the sign-in calls and kept nowhere. When the
 * token expires, or Tokensmith refuses it, or the user signs out, it is
 * removed and the console asks to sign in again.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { OAuthErrorDetailSchema, TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { basicAuthorization } from "../client/basic-authorization.js";
import { ADMIN_SCOPE, TENANTS_SCOPE } from "../domain/scopes.js";
import { TENANT_HEADER } from "../edge/tenant-route.js";
import { DEFAULT_TENANT } from "../store/tenant-store.js";

/** Ask for a new sign-in this long before the token really expires, so no call races its expiry. */
const EXPIRY_MARGIN_MS = 10_000;
/** setTimeout's limit (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Where the tab keeps its session's token, so that a reload resumes it. */
const STORAGE_KEY = "tokensmith-console-session";
/** The scopes a console session uses: either, or both. */
const CONSOLE_SCOPES = [ADMIN_SCOPE, TENANTS_SCOPE];

export type AdminClient = Client<typeof AdminService>;

export interface DescribedError {
  /** The Connect code's name, e.g. "Unauthenticated". */
  code: string;
  /** The OAuth error code from the tokensmith.v1.OAuthErrorDetail, e.g. "invalid_client". */
  oauthError: string | undefined;
  message: string;
  /** "invalid_client: client authentication failed (Unauthenticated)". */
  text: string;
}

export function describeError(error: unknown): DescribedError {
  const failure = ConnectError.from(error);
  const detail = failure.findDetails(OAuthErrorDetailSchema)[0];
  const oauthError = detail?.error || undefined;
  const message = detail?.errorDescription || failure.rawMessage || "no message";
  const code = Code[failure.code] ?? String(failure.code);
  return { code, oauthError, message, text: oauthError ? `${oauthError}: ${message} (${code})` : `${message} (${code})` };
}

/** A sentence for any failure: a refused call with its OAuth reason, or a local validation message. */
export function errorText(error: unknown): string {
  if (!(error instanceof ConnectError) && error instanceof Error && error.name === "Error") return error.message;
  return describeError(error).text;
}

interface Token {
  value: string;
  clientId: string;
  scopes: readonly string[];
  expiresAt: number;
  /** When the console stops using it: a margin before expiresAt. */
  renewAt: number;
}

export class Session {
  /** The AdminService of the default tenant: its clients and keys, and the tenant calls. */
  readonly admin: AdminClient;
  private readonly tokens: Client<typeof TokenService>;
  private readonly tenantAdmins = new Map<string, AdminClient>();
  private token: Token | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `onEnd` runs once when a session ends by expiry or refusal, with a sentence for the sign-in page. */
  constructor(
    private readonly baseUrl: string,
    private readonly onEnd: (reason: string) => void,
  ) {
    this.tokens = createClient(TokenService, createConnectTransport({ baseUrl }));
    this.admin = createClient(AdminService, createConnectTransport({ baseUrl, interceptors: [this.bearer(DEFAULT_TENANT)] }));
  }

  /**
   * The AdminService of `tenant` (by the tokensmith-tenant header), where a
   * platform administrator's token administers the tenant's clients and keys.
   */
  adminOf(tenant: string): AdminClient {
    if (tenant === DEFAULT_TENANT) return this.admin;
    let admin = this.tenantAdmins.get(tenant);
    if (admin === undefined) {
      const tenantHeader: Interceptor = (next) => (request) => {
        request.header.set(TENANT_HEADER, tenant);
        return next(request);
      };
      admin = createClient(AdminService, createConnectTransport({ baseUrl: this.baseUrl, interceptors: [this.bearer(tenant), tenantHeader] }));
      this.tenantAdmins.set(tenant, admin);
    }
    return admin;
  }

  /** Throws the ConnectError of a refused sign-in (describeError shows its OAuth reason). */
  async signIn(clientId: string, clientSecret: string): Promise<void> {
    const started = Date.now();
    const issued = await this.issue(clientId, clientSecret);
    this.signOut();
    const lifetimeMs = Number(issued.expiresIn) * 1000;
    const usableMs = lifetimeMs - Math.min(EXPIRY_MARGIN_MS, lifetimeMs / 4);
    this.start({ value: issued.accessToken, clientId, scopes: issued.scopes, expiresAt: started + lifetimeMs, renewAt: started + usableMs });
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.token));
  }

  /** Takes up the session this tab kept before a reload, unless it has expired (then dropped, as one unreadable is). */
  resume(): "resumed" | "expired" | "none" {
    const stored = readStoredToken(sessionStorage.getItem(STORAGE_KEY));
    if (stored === undefined || Date.now() >= stored.renewAt) {
      sessionStorage.removeItem(STORAGE_KEY);
      return stored === undefined ? "none" : "expired";
    }
    this.start(stored);
    return "resumed";
  }

  private start(token: Token): void {
    this.token = token;
    this.timer = setTimeout(() => this.end("Your session has expired: sign in again."), Math.min(Math.max(token.renewAt - Date.now(), 0), MAX_TIMER_MS));
  }

  get clientId(): string | undefined {
    return this.token?.clientId;
  }

  /** Whether the session's token carries `scope`. */
  holds(scope: string): boolean {
    return this.token?.scopes.includes(scope) ?? false;
  }

  /** A platform administrator's session (tokensmith:tenants): it manages tenants, and acts inside each. */
  get platformAdministrator(): boolean {
    return this.holds(TENANTS_SCOPE);
  }

  get expiresAt(): number | undefined {
    return this.token?.expiresAt;
  }

  signOut(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.token = undefined;
    sessionStorage.removeItem(STORAGE_KEY);
  }

  /**
   * A token with the console's scopes that the client holds: all its scopes
   * first (asking for none), then, if it holds others too, only the
   * console's, so the session's token carries nothing else. No request is
   * refused on the way, whichever of them the client holds.
   */
  private async issue(clientId: string, clientSecret: string) {
    const call = { headers: { authorization: basicAuthorization(clientId, clientSecret) }, timeoutMs: 15_000 };
    const all = await this.tokens.issueClientToken({ scopes: [] }, call);
    const wanted = CONSOLE_SCOPES.filter((scope) => all.scopes.includes(scope));
    if (wanted.length === 0) {
      throw new ConnectError(`the client holds neither ${ADMIN_SCOPE} nor ${TENANTS_SCOPE}: the console needs one of them`, Code.PermissionDenied);
    }
    return wanted.length === all.scopes.length ? all : this.tokens.issueClientToken({ scopes: wanted }, call);
  }

  /**
   * Sends the session's token, and ends the session when Tokensmith no
   * longer accepts it. A tenant other than the default also refuses it when
   * the tenant has just been deleted: then the default tenant is asked, and
   * the session ends only if it refuses the token too.
   */
  private bearer(tenant: string): Interceptor {
    return (next) => async (request) => {
      const token = this.current();
      if (token === undefined) {
        this.end("Your session has expired: sign in again.");
        throw new ConnectError("the session has expired: sign in again", Code.Unauthenticated);
      }
      request.header.set("authorization", `Bearer ${token.value}`);
      try {
        return await next(request);
      } catch (error) {
        if (ConnectError.from(error).code === Code.Unauthenticated && this.token === token) {
          if (tenant === DEFAULT_TENANT) this.end("Tokensmith no longer accepts this session: sign in again.");
          // Its own refusal ends the session through this interceptor; any other failure says nothing of the session.
          else await this.admin.listTenants({ pageSize: 1 }).catch(() => undefined);
        }
        throw error;
      }
    };
  }

  private current(): Token | undefined {
    const token = this.token;
    return token !== undefined && Date.now() < token.renewAt ? token : undefined;
  }

  private end(reason: string): void {
    if (this.token === undefined && this.timer === undefined) return;
    this.signOut();
    this.onEnd(reason);
  }
}

/** A token as signIn stored it; anything else (edited, or from another version) is no session. */
function readStoredToken(text: string | null): Token | undefined {
  if (text === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const { value, clientId, scopes, expiresAt, renewAt } = parsed as Record<string, unknown>;
    if (typeof value !== "string" || typeof clientId !== "string" || typeof expiresAt !== "number" || typeof renewAt !== "number") return undefined;
    if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === "string")) return undefined;
    return { value, clientId, scopes, expiresAt, renewAt };
  } catch {
    return undefined;
  }
}
