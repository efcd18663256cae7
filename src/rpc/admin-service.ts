import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AdminService, ApiKeyInfoSchema, ClientInfoSchema, TenantSchema } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { Domain } from "../app.js";
import type { ApiKeyChanges, ClientChanges } from "../domain/administration.js";
import { GRANT_LIFETIME } from "../domain/api-key.js";
import type { TenantChanges } from "../domain/tenant-administration.js";
import {
  apiKeyChanges,
  apiKeyInfo,
  clientChanges,
  clientInfo,
  maskedChanges,
  signingKeyInfo,
  tenantChanges,
  tenantInfo,
  trustedIssuerInfo,
  trustedIssuerRequest,
} from "./admin-messages.js";

type Administration = Domain["administration"];
type TenantAdministration = Domain["platform"];

/**
 * AdminService over the administration of the call's tenant (`adminOf`), or
 * of one tenant for every call; the tenant calls over `platform`, the
 * deployment's, once the call's tenant has authorized a platform administrator.
 */
export function adminService(
  adminOf: Administration | ((context: HandlerContext) => Administration),
  platform?: TenantAdministration,
): ServiceImpl<typeof AdminService> {
  const administrationOf = typeof adminOf === "function" ? adminOf : () => adminOf;
  /** Every admin call starts with the same authorization: a Bearer token with tokensmith:admin, in the call's tenant. */
  const guarded =
    <Req, Res>(handler: (request: Req, admin: Administration) => Promise<Res>) =>
    async (request: Req, context: HandlerContext): Promise<Res> => {
      const admin = administrationOf(context);
      await admin.authorize(context.requestHeader.get("authorization"));
      return handler(request, admin);
    };
  /** The tenant calls: only a platform administrator (a default-tenant token with tokensmith:tenants, addressed to the default tenant). */
  const platformGuarded =
    <Req, Res>(handler: (request: Req, tenants: TenantAdministration) => Promise<Res>) =>
    async (request: Req, context: HandlerContext): Promise<Res> => {
      await administrationOf(context).authorizePlatform(context.requestHeader.get("authorization"));
      if (platform === undefined) throw new Error("this AdminService was built without the platform's administration");
      return handler(request, platform);
    };
  return {
    createClient: guarded(async (request, admin) => {
      const created = await admin.createClient({ id: request.id, ...clientChanges(request) });
      return { client: clientInfo(created.client), clientSecret: created.secret ?? "" };
    }),
    getClient: guarded(async (request, admin) => ({ client: clientInfo(await admin.getClient(request.id)) })),
    listClients: guarded(async (request, admin) => {
      const page = await admin.listClients(request.pageSize, request.pageToken);
      const lifetimes = admin.tokenLifetimes;
      return {
        clients: page.items.map(clientInfo),
        nextPageToken: page.nextPageToken,
        defaultTokenLifetimeSeconds: BigInt(lifetimes.defaultSeconds),
        maxTokenLifetimeSeconds: BigInt(lifetimes.maxSeconds),
      };
    }),
    updateClient: guarded(async (request, admin) => {
      const changes = maskedChanges<ClientChanges>(ClientInfoSchema, request.updateMask, clientChanges(request.client));
      return { client: clientInfo(await admin.updateClient(request.client?.id ?? "", changes)) };
    }),
    rotateClientSecret: guarded(async (request, admin) => {
      const rotated = await admin.rotateClientSecret(request.id, Number(request.overlapSeconds));
      return { client: clientInfo(rotated.client), clientSecret: rotated.secret };
    }),
    deleteClient: guarded(async (request, admin) => {
      await admin.deleteClient(request.id);
      return {};
    }),
    revokeClientTokens: guarded(async (request, admin) => ({ revokeTime: timestampFromMs(await admin.revokeClientTokens(request.id)) })),
    createApiKey: guarded(async (request, admin) => {
      const created = await admin.createApiKey({ name: request.name, ...apiKeyChanges(request) });
      return { apiKey: apiKeyInfo(created.apiKey), key: created.key };
    }),
    listApiKeys: guarded(async (request, admin) => {
      const page = await admin.listApiKeys(request.pageSize, request.pageToken);
      return {
        apiKeys: page.items.map(apiKeyInfo),
        nextPageToken: page.nextPageToken,
        defaultGrantLifetimeSeconds: BigInt(GRANT_LIFETIME.defaultSeconds),
        maxGrantLifetimeSeconds: BigInt(GRANT_LIFETIME.maxSeconds),
      };
    }),
    updateApiKey: guarded(async (request, admin) => {
      const changes = maskedChanges<ApiKeyChanges>(ApiKeyInfoSchema, request.updateMask, apiKeyChanges(request.apiKey));
      return { apiKey: apiKeyInfo(await admin.updateApiKey(request.apiKey?.name ?? "", changes)) };
    }),
    deleteApiKey: guarded(async (request, admin) => {
      await admin.deleteApiKey(request.name);
      return {};
    }),
    listSigningKeys: guarded(async (_request, admin) => ({ keys: (await admin.listSigningKeys()).map(signingKeyInfo) })),
    rotateSigningKey: guarded(async (_request, admin) => ({ key: signingKeyInfo(await admin.rotateSigningKey()) })),
    createTrustedIssuer: guarded(async (request, admin) => ({ trustedIssuer: trustedIssuerInfo(await admin.createTrustedIssuer(trustedIssuerRequest(request))) })),
    listTrustedIssuers: guarded(async (request, admin) => {
      const page = await admin.listTrustedIssuers(request.pageSize, request.pageToken);
      return { trustedIssuers: page.items.map(trustedIssuerInfo), nextPageToken: page.nextPageToken };
    }),
    deleteTrustedIssuer: guarded(async (request, admin) => {
      await admin.deleteTrustedIssuer(request.issuer);
      return {};
    }),
    createTenant: platformGuarded(async (request, tenants) => {
      const created = await tenants.createTenant({ id: request.id, adminClientId: request.adminClientId, ...tenantChanges(request) });
      return {
        tenant: tenantInfo(created.tenant),
        adminClient: created.adminClient === undefined ? undefined : clientInfo(created.adminClient),
        adminClientSecret: created.adminClientSecret ?? "",
      };
    }),
    getTenant: platformGuarded(async (request, tenants) => ({ tenant: tenantInfo(await tenants.getTenant(request.id)) })),
    listTenants: platformGuarded(async (request, tenants) => {
      const page = await tenants.listTenants(request.pageSize, request.pageToken);
      return { tenants: page.items.map(tenantInfo), nextPageToken: page.nextPageToken };
    }),
    updateTenant: platformGuarded(async (request, tenants) => {
      const changes = maskedChanges<TenantChanges>(TenantSchema, request.updateMask, tenantChanges(request.tenant));
      return { tenant: tenantInfo(await tenants.updateTenant(request.tenant?.id ?? "", changes)) };
    }),
    deleteTenant: platformGuarded(async (request, tenants) => {
      await tenants.deleteTenant(request.id);
      return {};
    }),
  };
}
