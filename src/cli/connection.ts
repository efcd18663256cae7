import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TokenService, type IssueClientTokenResponse } from "../../gen/tokensmith/v1/token_service_pb.js";
import { basicAuthorization } from "../client/basic-authorization.js";
import { ADMIN_SCOPE } from "../domain/scopes.js";
import { TENANT_ID } from "../domain/tenant-registry.js";
import { failureOfCall, usageError } from "./cli-failure.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";
/** A bound on every call, so a black-holed server ends in exit code 5, not a hang. */
const CALL_TIMEOUT_MS = 15_000;

/** Where Tokensmith is and who the CLI is: from flags first, then the environment. */
export interface Connection {
  url: string;
  clientId: string | undefined;
  clientSecret: string | undefined;
  /** The tenant every call is for (its `/t/<tenant>` URLs); undefined: the default tenant. */
  tenant: string | undefined;
}

export interface ConnectionFlags {
  url?: string | undefined;
  "client-id"?: string | undefined;
  "client-secret"?: string | undefined;
  tenant?: string | undefined;
}

/** Where the calls go: the tenant's base URL, `<url>/t/<tenant>`, or the server's. */
export const endpointOf = (connection: Connection) => (connection.tenant === undefined ? connection.url : `${connection.url}/t/${connection.tenant}`);

const CREDENTIAL_HINT =
  "check --client-id and --client-secret (or TOKENSMITH_CLIENT_ID and TOKENSMITH_CLIENT_SECRET)";

const nonEmpty = (value: string | undefined) => (value === undefined || value === "" ? undefined : value);

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Connection {
  const raw = nonEmpty(flags.url) ?? nonEmpty(env.TOKENSMITH_URL) ?? DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url (or TOKENSMITH_URL) must be an http(s) URL such as ${DEFAULT_URL}, not "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw usageError(`--url (or TOKENSMITH_URL) must be an http(s) URL such as ${DEFAULT_URL}, not "${raw}"`);
  }
  const tenant = nonEmpty(flags.tenant) ?? nonEmpty(env.TOKENSMITH_TENANT);
  if (tenant !== undefined && !TENANT_ID.test(tenant)) {
    throw usageError(`--tenant (or TOKENSMITH_TENANT) must be a tenant id (1-63 lower-case letters, digits or '-', not starting or ending with '-'), not "${tenant.slice(0, 64)}"`);
  }
  return {
    url: url.toString().replace(/\/$/, ""),
    clientId: nonEmpty(flags["client-id"]) ?? nonEmpty(env.TOKENSMITH_CLIENT_ID),
    clientSecret: nonEmpty(flags["client-secret"]) ?? nonEmpty(env.TOKENSMITH_CLIENT_SECRET),
    tenant,
  };
}

function transport(connection: Connection, interceptors: Interceptor[] = []): Transport {
  return createConnectTransport({ baseUrl: endpointOf(connection), httpVersion: "1.1", defaultTimeoutMs: CALL_TIMEOUT_MS, interceptors });
}

function requireCredentials(connection: Connection, purpose: string): { clientId: string; clientSecret: string } {
  if (connection.clientId === undefined || connection.clientSecret === undefined) {
    const missing = [connection.clientId === undefined ? "--client-id" : "", connection.clientSecret === undefined ? "--client-secret" : ""]
      .filter(Boolean)
      .join(" and ");
    throw usageError(
      `${purpose} needs client credentials: missing ${missing} (or TOKENSMITH_CLIENT_ID and TOKENSMITH_CLIENT_SECRET in the environment)`,
    );
  }
  return { clientId: connection.clientId, clientSecret: connection.clientSecret };
}

/** Client credentials grant for the configured client: the access token and what came with it. */
export async function issueClientToken(
  connection: Connection,
  request: { scopes: string[]; audience: string[] },
  purpose = "tokensmith token",
): Promise<IssueClientTokenResponse> {
  const { clientId, clientSecret } = requireCredentials(connection, purpose);
  const tokens = createClient(TokenService, transport(connection));
  try {
    return await tokens.issueClientToken(request, { headers: { authorization: basicAuthorization(clientId, clientSecret) } });
  } catch (error) {
    const admin = request.scopes.find((scope) => scope.startsWith("tokensmith:"));
    throw failureOfCall(error, {
      url: connection.url,
      action: `get a token for client "${clientId}" at ${endpointOf(connection)}`,
      unauthenticatedHint: connection.tenant === undefined ? CREDENTIAL_HINT : `${CREDENTIAL_HINT}, and that the client is one of tenant "${connection.tenant}" (--tenant, TOKENSMITH_TENANT)`,
      permissionHint: admin !== undefined ? `admin commands need a client allowed the scope ${admin}` : undefined,
    });
  }
}

export type AdminClient = Client<typeof AdminService>;

/**
 * An AdminService client that carries a fresh access token with `scope`
 * (`tokensmith:admin`, or `tokensmith:tenants` for the tenant commands),
 * obtained with the configured client credentials.
 */
export async function connectAdmin(connection: Connection, scope = ADMIN_SCOPE): Promise<AdminClient> {
  const token = await issueClientToken(connection, { scopes: [scope], audience: [] }, "an admin command");
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token.accessToken}`);
    return next(request);
  };
  return createClient(AdminService, transport(connection, [bearer]));
}

/** Runs one admin call and turns its failure into a CliFailure that says what was being done (and, refused, what the client needs). */
export async function adminCall<T>(connection: Connection, action: string, call: () => Promise<T>, needs = `the scope ${ADMIN_SCOPE}`): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw failureOfCall(error, {
      url: connection.url,
      action: connection.tenant === undefined ? action : `${action} in tenant "${connection.tenant}"`,
      permissionHint: `the client "${connection.clientId ?? ""}" needs ${needs}`,
    });
  }
}
