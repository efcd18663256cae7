/**
 * The AdminService's messages and the domain's shapes, mapped in one place:
 * views to ClientInfo / ApiKeyInfo / SigningKeyInfo, request fields to the
 * domain's typed changes, and update_mask paths (which are protobuf field
 * names, so they stay on this side) to the fields an update changes.
 */
import { create, type DescMessage } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampFromMs, type FieldMask } from "@bufbuild/protobuf/wkt";
import { Source, type AccessTokenInfo, type ApiKeyInfo, type AuditEvent as AuditEventMessage, type ClientInfo, type CreateTrustedIssuerRequest, type SigningKeyInfo, type Tenant, type TrustedIssuerInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { ApiKeyChanges, ApiKeyView, ClientChanges, ClientView, TrustedIssuerRequest, TrustedIssuerView } from "../domain/administration.js";
import type { TenantChanges, TenantView } from "../domain/tenant-administration.js";
import type { AuditEvent } from "../domain/audit-trail.js";
import { invalidRequest } from "../domain/oauth-error.js";
import type { KeyRingEntry } from "../keys/key-ring.js";
import type { NamedAccessToken } from "../domain/named-access-tokens.js";

type MessageInit<T> = Omit<T, "$typeName" | "$unknown">;
type ClientFieldsMessage = Pick<ClientInfo, "scopes" | "audiences" | "tokenLifetimeSeconds" | "jwksJson" | "jwksUri" | "tokenEndpointAuthMethods" | "grantTypes">;
type ApiKeyFieldsMessage = Pick<ApiKeyInfo, "scopes" | "grantLifetimeSeconds">;
type TenantFieldsMessage = Pick<Tenant, "displayName" | "defaultTokenLifetimeSeconds" | "maxTokenLifetimeSeconds" | "corsAllowedOrigins">;

const sourceOf = (source: "config" | "store") => (source === "config" ? Source.CONFIG : Source.STORE);
const timestampOf = (ms: number | undefined) => (ms === undefined ? undefined : timestampFromMs(ms));

export function clientInfo(view: ClientView): MessageInit<ClientInfo> {
  return {
    id: view.id,
    scopes: [...view.scopes],
    audiences: [...view.audiences],
    tokenLifetimeSeconds: BigInt(view.tokenLifetimeSeconds),
    jwksJson: view.jwks ? JSON.stringify(view.jwks) : "",
    jwksUri: view.jwksUri ?? "",
    tokenEndpointAuthMethods: [...view.tokenEndpointAuthMethods],
    grantTypes: [...view.grantTypes],
    source: sourceOf(view.source),
    createTime: timestampOf(view.createdAt),
    previousSecretExpireTime: timestampOf(view.previousSecretExpiresAt),
  };
}

export function apiKeyInfo(view: ApiKeyView): MessageInit<ApiKeyInfo> {
  return {
    name: view.name,
    scopes: [...view.scopes],
    grantLifetimeSeconds: BigInt(view.grantLifetimeSeconds),
    source: sourceOf(view.source),
    createTime: timestampOf(view.createdAt),
    keyPrefix: view.keyPrefix ?? "",
  };
}

export function auditEventInfo(event: AuditEvent): MessageInit<AuditEventMessage> {
  return {
    id: event.id,
    eventTime: timestampFromMs(event.time),
    kind: event.kind,
    tenant: event.tenant,
    actorClientId: event.actorClientId,
    actorTenant: event.actorTenant,
    target: event.target,
    peer: event.peer,
    requestId: event.requestId,
    details: { ...event.details },
  };
}

export function tenantInfo(view: TenantView): MessageInit<Tenant> {
  return {
    id: view.id,
    displayName: view.displayName,
    source: sourceOf(view.source),
    issuer: view.issuer,
    createTime: timestampOf(view.createdAt),
    deleteTime: timestampOf(view.deletedAt),
    defaultTokenLifetimeSeconds: BigInt(view.defaultTokenLifetimeSeconds),
    maxTokenLifetimeSeconds: BigInt(view.maxTokenLifetimeSeconds),
    corsAllowedOrigins: [...view.corsAllowedOrigins],
  };
}

export function trustedIssuerInfo(view: TrustedIssuerView): MessageInit<TrustedIssuerInfo> {
  return {
    issuer: view.issuer,
    jwksJson: view.jwks ? JSON.stringify(view.jwks) : "",
    jwksUri: view.jwksUri ?? "",
    audiences: [...view.audiences],
    subjectMappings: view.subjectMapping.map((mapping) => ({
      $typeName: "tokensmith.v1.SubjectMapping" as const,
      subject: mapping.subject,
      clientId: mapping.clientId,
      // A config file may ask for a number or a boolean: shown as text.
      claims: Object.fromEntries(Object.entries(mapping.claims ?? {}).map(([name, value]) => [name, String(value)])),
    })),
    source: sourceOf(view.source),
    createTime: timestampOf(view.createdAt),
  };
}

export function trustedIssuerRequest(message: CreateTrustedIssuerRequest): TrustedIssuerRequest {
  return {
    issuer: message.issuer,
    jwksJson: message.jwksJson,
    jwksUri: message.jwksUri,
    audiences: message.audiences,
    subjectMappings: message.subjectMappings.map((mapping) => ({ subject: mapping.subject, clientId: mapping.clientId, claims: mapping.claims })),
  };
}

/** A named access token's record: never the token. */
export function accessTokenInfo(record: NamedAccessToken): MessageInit<AccessTokenInfo> {
  return {
    id: record.id,
    name: record.name,
    clientId: record.clientId,
    scopes: [...record.scopes],
    audiences: [...record.audiences],
    createTime: timestampFromMs(record.createdAt),
    expireTime: timestampFromMs(record.expiresAt),
    createdBy: record.createdBy,
  };
}

export function signingKeyInfo(key: Omit<KeyRingEntry, "privateJwk"> & { active: boolean; published: boolean }): MessageInit<SigningKeyInfo> {
  return {
    kid: key.kid,
    alg: key.alg,
    createTime: timestampFromMs(key.createdAt),
    signStartTime: timestampFromMs(key.signsFrom),
    retireTime: timestampOf(key.retireAfter),
    active: key.active,
    published: key.published,
  };
}

/** Every settable client field of a CreateClientRequest or an UpdateClientRequest's client (proto3: absent reads as empty). */
export function clientChanges(message: ClientFieldsMessage | undefined): Required<ClientChanges> {
  return {
    scopes: message?.scopes ?? [],
    audiences: message?.audiences ?? [],
    tokenLifetimeSeconds: Number(message?.tokenLifetimeSeconds ?? 0n),
    jwksJson: message?.jwksJson ?? "",
    jwksUri: message?.jwksUri ?? "",
    tokenEndpointAuthMethods: message?.tokenEndpointAuthMethods ?? [],
    grantTypes: message?.grantTypes ?? [],
  };
}

/** Every settable API key field of a CreateApiKeyRequest or an UpdateApiKeyRequest's api_key. */
export function apiKeyChanges(message: ApiKeyFieldsMessage | undefined): Required<ApiKeyChanges> {
  return { scopes: message?.scopes ?? [], grantLifetimeSeconds: Number(message?.grantLifetimeSeconds ?? 0n) };
}

/** Every settable tenant field of a CreateTenantRequest or an UpdateTenantRequest's tenant. */
export function tenantChanges(message: TenantFieldsMessage | undefined): Required<TenantChanges> {
  return {
    displayName: message?.displayName ?? "",
    defaultTokenLifetimeSeconds: Number(message?.defaultTokenLifetimeSeconds ?? 0n),
    maxTokenLifetimeSeconds: Number(message?.maxTokenLifetimeSeconds ?? 0n),
    corsAllowedOrigins: message?.corsAllowedOrigins ?? [],
  };
}

/** A mask path is the field's name in the .proto (AIP-161), which the descriptor knows. */
function protoName(schema: DescMessage, localName: string): string {
  const field = schema.field[localName];
  if (field === undefined) throw new TypeError(`${schema.typeName} has no field ${localName}`);
  return field.name;
}

/**
 * The fields an update_mask names, as the typed partial the domain's update
 * takes. It may name the fields `settable` has, by their names in `schema`.
 */
export function maskedChanges<T extends object>(schema: DescMessage, mask: FieldMask | undefined, settable: Required<T>): Partial<T> {
  const paths = mask?.paths ?? [];
  const keyOf = new Map(Object.keys(settable).map((key) => [protoName(schema, key), key as keyof T]));
  const unknown = paths.filter((path) => !keyOf.has(path));
  if (paths.length === 0) throw invalidRequest("update_mask must name at least one field");
  if (unknown.length > 0) throw invalidRequest(`update_mask names fields that cannot be updated: ${unknown.join(", ")}`);
  const changes: Partial<T> = {};
  for (const path of paths) {
    const key = keyOf.get(path)!;
    changes[key] = settable[key];
  }
  return changes;
}

/** The update_mask naming each field that `changes` sets: what an AdminService client sends with an update. */
export function updateMaskOf(schema: DescMessage, changes: object): FieldMask {
  const paths = Object.entries(changes)
    .filter(([, value]) => value !== undefined)
    .map(([key]) => protoName(schema, key));
  return create(FieldMaskSchema, { paths });
}
