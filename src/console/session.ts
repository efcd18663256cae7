/**
 * The console's session: an access token with the scope tokensmith:admin,
 * from IssueClientToken with the admin client's id and secret in a Basic
 * header. The token lives in this object only (no localStorage, no cookie),
 * so closing or reloading the tab ends the session; the secret is used for
 * the one sign-in call and not kept. When the token expires, or Tokensmith
 * refuses it, the console asks to sign in again.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { OAuthErrorDetailSchema, TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import { basicAuthorization } from "../client/basic-authorization.js";
import { ADMIN_SCOPE } from "../domain/scopes.js";

/** Ask for a new sign-in this long before the token really expires, so no call races its expiry. */
const EXPIRY_MARGIN_MS = 10_000;
/** setTimeout's limit (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  expiresAt: number;
  /** When the console stops using it: a margin before expiresAt. */
  renewAt: number;
}

export class Session {
  readonly admin: AdminClient;
  private readonly tokens: Client<typeof TokenService>;
  private token: Token | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `onEnd` runs once when a session ends by expiry or refusal, with a sentence for the sign-in page. */
  constructor(
    baseUrl: string,
    private readonly onEnd: (reason: string) => void,
  ) {
    this.tokens = createClient(TokenService, createConnectTransport({ baseUrl }));
    const bearer: Interceptor = (next) => async (request) => {
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
          this.end("Tokensmith no longer accepts this session: sign in again.");
        }
        throw error;
      }
    };
    this.admin = createClient(AdminService, createConnectTransport({ baseUrl, interceptors: [bearer] }));
  }

  /** Throws the ConnectError of a refused sign-in (describeError shows its OAuth reason). */
  async signIn(clientId: string, clientSecret: string): Promise<void> {
    const started = Date.now();
    const issued = await this.tokens.issueClientToken(
      { scopes: [ADMIN_SCOPE] },
      { headers: { authorization: basicAuthorization(clientId, clientSecret) }, timeoutMs: 15_000 },
    );
    this.signOut();
    const lifetimeMs = Number(issued.expiresIn) * 1000;
    const usableMs = lifetimeMs - Math.min(EXPIRY_MARGIN_MS, lifetimeMs / 4);
    this.token = { value: issued.accessToken, clientId, expiresAt: started + lifetimeMs, renewAt: started + usableMs };
    this.timer = setTimeout(() => this.end("Your session has expired: sign in again."), Math.min(usableMs, MAX_TIMER_MS));
  }

  get clientId(): string | undefined {
    return this.token?.clientId;
  }

  get expiresAt(): number | undefined {
    return this.token?.expiresAt;
  }

  signOut(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.token = undefined;
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
