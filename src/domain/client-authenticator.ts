import { parseBasicAuthorization } from "./basic-credentials.js";
import type { Client, ClientAuthMethod, ClientRegistry } from "./client.js";
import type { AuthRateLimiter } from "./auth-rate-limiter.js";
import { invalidClient, invalidRequest, OAuthError } from "./oauth-error.js";
import { RememberedHeaders } from "./remembered-headers.js";
import { secretMatches } from "./secret-format.js";
import type { TrustedIssuers } from "./trusted-issuers.js";

export const JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";


/** How a caller presented itself: the raw authorization header and/or request fields. */
export interface ClientCredentials {
  authorization?: string | null;
  clientId?: string;
  clientSecret?: string;
  clientAssertionType?: string;
  clientAssertion?: string;
  /** The caller's network address, for failed-authentication limits. */
  peer?: string;
}

export interface AuthenticatedClient {
  client: Client;
  method: ClientAuthMethod;
}

/** Verifies an RFC 7523 client assertion and returns the client it authenticates. */
export interface ClientAssertionVerifier {
  verify(assertion: string, claimedClientId: string | undefined): Promise<Client>;
}

const MAX_CLIENT_ID_LENGTH = 256;
const notRegistered = (method: ClientAuthMethod) => invalidClient(`${method} is not registered for this client (token_endpoint_auth_methods)`);
const MAX_SECRET_LENGTH = 512;

/**
 * RFC 6749 §2.3: exactly one authentication method per request, and only one
 * the client registered (its tokenEndpointAuthMethods). A wrong id and a
 * wrong secret give the same answer after the same work.
 */
export class ClientAuthenticator {
  /** Basic headers that authenticated a client (see RememberedHeaders). */
  private readonly verifiedBasic: RememberedHeaders<Client>;

  constructor(
    private readonly clients: ClientRegistry,
    private readonly assertions?: ClientAssertionVerifier,
    private readonly limiter?: AuthRateLimiter,
    /** Assertions whose iss is a trusted external issuer (federated_jwt) go here instead of to `assertions`. */
    private readonly federation?: TrustedIssuers,
  ) {
    this.verifiedBasic = new RememberedHeaders((id) => clients.peek?.(id), (client) => client.id);
  }

  async authenticate(credentials: ClientCredentials): Promise<AuthenticatedClient> {
    const remembered = this.rememberedBasic(credentials);
    if (remembered !== undefined) return { client: remembered, method: "client_secret_basic" };
    const basic = parseBasicAuthorization(credentials.authorization);
    const hasPostSecret = Boolean(credentials.clientSecret);
    const hasAssertion = Boolean(credentials.clientAssertion || credentials.clientAssertionType);
    const methods = Number(basic !== undefined) + Number(hasPostSecret) + Number(hasAssertion);
    if (methods > 1) throw invalidRequest("use exactly one client authentication method");
    if (basic !== undefined && credentials.clientId && credentials.clientId !== basic.username) {
      throw invalidRequest("client_id does not match the client authenticated by the authorization header");
    }

    if (hasAssertion) {
      if (credentials.clientAssertionType !== JWT_BEARER_ASSERTION_TYPE) {
        throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`);
      }
      if (!credentials.clientAssertion) throw invalidRequest("client_assertion is missing");
      const federated = (await this.federation?.issued(credentials.clientAssertion)) ?? false;
      if (!federated && this.assertions === undefined) throw invalidClient("private_key_jwt is not enabled");
      this.limiter?.checkNotBlocked(credentials.clientId || undefined, credentials.peer);
      try {
        if (federated) return { client: await this.federation!.authenticate(credentials.clientAssertion, credentials.clientId || undefined), method: "federated_jwt" };
        const client = await this.assertions!.verify(credentials.clientAssertion, credentials.clientId || undefined);
        return this.registered(client, "private_key_jwt");
      } catch (error) {
        if (error instanceof OAuthError && error.error === "invalid_client") {
          await this.limiter?.recordFailure(credentials.clientId || undefined, credentials.peer);
        }
        throw error;
      }
    }
    if (basic !== undefined) {
      const client = await this.checkSecret(basic.username, basic.password, credentials.peer, "client_secret_basic");
      this.verifiedBasic.remember(credentials.authorization as string, client);
      return { client, method: "client_secret_basic" };
    }
    if (hasPostSecret) {
      if (!credentials.clientId) throw invalidRequest("client_id is required with client_secret");
      const client = await this.checkSecret(credentials.clientId, credentials.clientSecret ?? "", credentials.peer, "client_secret_post");
      return { client, method: "client_secret_post" };
    }
    throw invalidClient("client authentication is required");
  }

  /** The client a remembered Basic header authenticates, if nothing about it changed since. */
  private rememberedBasic(credentials: ClientCredentials): Client | undefined {
    const header = credentials.authorization;
    if (!header || credentials.clientSecret || credentials.clientAssertion || credentials.clientAssertionType) return undefined;
    const client = this.verifiedBasic.get(header);
    if (client === undefined || (credentials.clientId && credentials.clientId !== client.id)) return undefined;
    // A subject or peer blocked for failures stays blocked, remembered header or not.
    this.limiter?.checkNotBlocked(client.id, credentials.peer);
    return client;
  }

  /** The client, if it registered the method it just proved itself by; invalid_client otherwise. */
  private registered(client: Client, method: ClientAuthMethod): AuthenticatedClient {
    if (!client.tokenEndpointAuthMethods.includes(method)) throw notRegistered(method);
    return { client, method };
  }

  private async checkSecret(clientId: string, secret: string, peer: string | undefined, method: ClientAuthMethod): Promise<Client> {
    const subject = clientId.slice(0, MAX_CLIENT_ID_LENGTH);
    this.limiter?.checkNotBlocked(subject, peer);
    let client: Client | undefined;
    let matched = false;
    if (clientId.length > 0 && clientId.length <= MAX_CLIENT_ID_LENGTH && secret.length <= MAX_SECRET_LENGTH) {
      client = await this.clients.find(clientId);
      // Same hashing and comparison whether or not the client exists.
      matched = secretMatches(secret, client?.secretHashes ?? []);
    }
    if (client === undefined || !matched) {
      await this.limiter?.recordFailure(subject, peer);
      throw invalidClient();
    }
    if (!client.tokenEndpointAuthMethods.includes(method)) {
      await this.limiter?.recordFailure(subject, peer);
      throw notRegistered(method);
    }
    return client;
  }
}
