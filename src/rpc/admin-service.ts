import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AdminService, ApiKeyInfoSchema, ClientInfoSchema, TenantSchema } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { Domain } from "../app.js";
import type { AuditActor, AuditTrail } from "../domain/audit-trail.js";
import type { ApiKeyChanges, ClientChanges } from "../domain/administration.js";
import { GRANT_LIFETIME } from "../domain/api-key.js";
import type { TenantChanges } from "../domain/tenant-administration.js";
import {
  accessTokenInfo,
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
  auditEventInfo,
} from "./admin-messages.js";
import { auditOfCall, recordingRefusal, type RecordAudit } from "./admin-audit.js";

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
    <Req, Res>(handler: (request: Req, admin: Administration, audit: RecordAudit, actor: AuditActor) => Promise<Res>) =>
    async (request: Req, context: HandlerContext): Promise<Res> => {
      const admin = administrationOf(context);
      const { actor } = await recordingRefusal(admin, context, () => admin.authorize(context.requestHeader.get("authorization")));
      return handler(request, admin, auditOfCall(admin.auditTrail, context, actor), actor);
    };
  /** The tenant calls: only a platform administrator (a default-tenant token with tokensmith:tenants, addressed to the default tenant). */
  const platformGuarded =
    <Req, Res>(handler: (request: Req, tenants: TenantAdministration, audit: RecordAudit, auditIn: (trail: AuditTrail) => RecordAudit) => Promise<Res>) =>
    async (request: Req, context: HandlerContext): Promise<Res> => {
      const admin = administrationOf(context);
      const { actor } = await recordingRefusal(admin, context, () => admin.authorizePlatform(context.requestHeader.get("authorization")));
      if (platform === undefined) throw new Error("this AdminService was built without the platform's administration");
      // Tenant events go to the default tenant's trail, where the platform administrators act (a deleted tenant's own goes with it).
      return handler(request, platform, auditOfCall(admin.auditTrail, context, actor), (trail) => auditOfCall(trail, context, actor));
    };
  const maskOf = (mask: { paths: string[] } | undefined) => ({ fields: (mask?.paths ?? []).join(",") });
  return {
    createClient: guarded(async (request, admin, audit) => {
      const created = await admin.createClient({ id: request.id, ...clientChanges(request) });
      await audit("client.created", created.client.id, { scopes: created.client.scopes.join(" ") });
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
    updateClient: guarded(async (request, admin, audit) => {
      const changes = maskedChanges<ClientChanges>(ClientInfoSchema, request.updateMask, clientChanges(request.client));
      const updated = await admin.updateClient(request.client?.id ?? "", changes);
      await audit("client.updated", updated.id, maskOf(request.updateMask));
      return { client: clientInfo(updated) };
    }),
    rotateClientSecret: guarded(async (request, admin, audit) => {
      const rotated = await admin.rotateClientSecret(request.id, Number(request.overlapSeconds));
      await audit("client.secret_rotated", rotated.client.id, rotated.client.previousSecretExpiresAt === undefined ? {} : { previous_secret_expire_time: new Date(rotated.client.previousSecretExpiresAt).toISOString() });
      return { client: clientInfo(rotated.client), clientSecret: rotated.secret };
    }),
    deleteClient: guarded(async (request, admin, audit) => {
      await admin.deleteClient(request.id);
      await audit("client.deleted", request.id);
      return {};
    }),
    revokeClientTokens: guarded(async (request, admin, audit) => {
      const revokeTime = timestampFromMs(await admin.revokeClientTokens(request.id));
      await audit("tokens.revoked", request.id, { revoke_time: timestampDate(revokeTime).toISOString() });
      return { revokeTime };
    }),
    createApiKey: guarded(async (request, admin, audit) => {
      const created = await admin.createApiKey({ name: request.name, ...apiKeyChanges(request) });
      await audit("api_key.created", created.apiKey.name, { scopes: created.apiKey.scopes.join(" ") });
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
    updateApiKey: guarded(async (request, admin, audit) => {
      const changes = maskedChanges<ApiKeyChanges>(ApiKeyInfoSchema, request.updateMask, apiKeyChanges(request.apiKey));
      const updated = await admin.updateApiKey(request.apiKey?.name ?? "", changes);
      await audit("api_key.updated", updated.name, maskOf(request.updateMask));
      return { apiKey: apiKeyInfo(updated) };
    }),
    deleteApiKey: guarded(async (request, admin, audit) => {
      await admin.deleteApiKey(request.name);
      await audit("api_key.deleted", request.name);
      return {};
    }),
    listSigningKeys: guarded(async (_request, admin) => ({ keys: (await admin.listSigningKeys()).map(signingKeyInfo) })),
    rotateSigningKey: guarded(async (_request, admin, audit) => {
      const key = await admin.rotateSigningKey();
      await audit("signing_key.rotated", key.kid, { alg: key.alg });
      return { key: signingKeyInfo(key) };
    }),
    createTrustedIssuer: guarded(async (request, admin, audit) => {
      const trusted = await admin.createTrustedIssuer(trustedIssuerRequest(request));
      await audit("trusted_issuer.created", trusted.issuer);
      return { trustedIssuer: trustedIssuerInfo(trusted) };
    }),
    listTrustedIssuers: guarded(async (request, admin) => {
      const page = await admin.listTrustedIssuers(request.pageSize, request.pageToken);
      return { trustedIssuers: page.items.map(trustedIssuerInfo), nextPageToken: page.nextPageToken };
    }),
    deleteTrustedIssuer: guarded(async (request, admin, audit) => {
      await admin.deleteTrustedIssuer(request.issuer);
      await audit("trusted_issuer.deleted", request.issuer);
      return {};
    }),
    createAccessToken: guarded(async (request, admin, audit, actor) => {
      const created = await admin.createAccessToken(
        { clientId: request.clientId, name: request.name, scopes: request.scopes, lifetimeSeconds: Number(request.lifetimeSeconds) },
        actor.clientId,
      );
      await audit("access_token.created", created.record.id, { client_id: created.record.clientId, name: created.record.name, scopes: created.record.scopes.join(" ") });
      return { accessToken: accessTokenInfo(created.record), token: created.token };
    }),
    listAccessTokens: guarded(async (request, admin) => {
      const page = await admin.listAccessTokens(request.clientId, request.pageSize, request.pageToken);
      return { accessTokens: page.items.map(accessTokenInfo), nextPageToken: page.nextPageToken };
    }),
    revokeAccessToken: guarded(async (request, admin, audit) => {
      const revoked = await admin.revokeAccessToken(request.id);
      await audit("access_token.revoked", revoked.id, { client_id: revoked.clientId, name: revoked.name });
      return { accessToken: accessTokenInfo(revoked) };
    }),
    createTenant: platformGuarded(async (request, tenants, audit, auditIn) => {
      const created = await tenants.createTenant({ id: request.id, adminClientId: request.adminClientId, ...tenantChanges(request) });
      await audit("tenant.created", created.tenant.id, created.adminClient === undefined ? {} : { admin_client_id: created.adminClient.id });
      // The first admin client is the new tenant's own: its creation opens that tenant's trail.
      if (created.adminClient !== undefined && created.tenantTrail !== undefined) {
        await auditIn(created.tenantTrail)("client.created", created.adminClient.id, { scopes: created.adminClient.scopes.join(" ") });
      }
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
    updateTenant: platformGuarded(async (request, tenants, audit) => {
      const changes = maskedChanges<TenantChanges>(TenantSchema, request.updateMask, tenantChanges(request.tenant));
      const updated = await tenants.updateTenant(request.tenant?.id ?? "", changes);
      await audit("tenant.updated", updated.id, maskOf(request.updateMask));
      return { tenant: tenantInfo(updated) };
    }),
    deleteTenant: platformGuarded(async (request, tenants, audit) => {
      await tenants.deleteTenant(request.id);
      await audit("tenant.deleted", request.id);
      return {};
    }),
    listAuditEvents: guarded(async (request, admin) => {
      const page = await admin.listAuditEvents({
        pageSize: request.pageSize,
        pageToken: request.pageToken,
        actor: request.actor,
        target: request.target,
        kind: request.kind,
        ...(request.startTime ? { sinceMs: timestampDate(request.startTime).getTime() } : {}),
        ...(request.endTime ? { untilMs: timestampDate(request.endTime).getTime() } : {}),
      });
      return { events: page.events.map(auditEventInfo), nextPageToken: page.nextPageToken };
    }),
  };
}
