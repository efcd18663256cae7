import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AdminService, Source, type ApiKeyInfo, type ClientInfo, type SigningKeyInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { Domain } from "../app.js";
import type { ApiKeyView, ClientView } from "../domain/administration.js";
import type { KeyRingEntry } from "../keys/key-ring.js";

type Administration = Domain["administration"];
type MessageInit<T> = Omit<T, "$typeName" | "$unknown">;

function clientInfo(view: ClientView): MessageInit<ClientInfo> {
  return {
    id: view.id,
    scopes: view.scopes,
    audiences: view.audiences,
    tokenLifetimeSeconds: BigInt(view.tokenLifetimeSeconds),
    jwksJson: view.jwks ? JSON.stringify(view.jwks) : "",
    jwksUri: view.jwksUri ?? "",
    tokenEndpointAuthMethods: view.tokenEndpointAuthMethods,
    source: view.source === "config" ? Source.CONFIG : Source.STORE,
    createTime: view.createdAt === undefined ? undefined : timestampFromMs(view.createdAt),
    previousSecretExpireTime: view.previousSecretExpiresAt === undefined ? undefined : timestampFromMs(view.previousSecretExpiresAt),
  };
}

function apiKeyInfo(view: ApiKeyView): MessageInit<ApiKeyInfo> {
  return {
    name: view.name,
    scopes: view.scopes,
    grantLifetimeSeconds: BigInt(view.grantLifetimeSeconds),
    source: view.source === "config" ? Source.CONFIG : Source.STORE,
    createTime: view.createdAt === undefined ? undefined : timestampFromMs(view.createdAt),
    keyPrefix: view.keyPrefix ?? "",
  };
}

function signingKeyInfo(key: Omit<KeyRingEntry, "privateJwk"> & { active: boolean; published: boolean }): MessageInit<SigningKeyInfo> {
  return {
    kid: key.kid,
    alg: key.alg,
    createTime: timestampFromMs(key.createdAt),
    signStartTime: timestampFromMs(key.signsFrom),
    retireTime: key.retireAfter === undefined ? undefined : timestampFromMs(key.retireAfter),
    active: key.active,
    published: key.published,
  };
}

/** Every admin call starts with the same authorization: a Bearer token with tokensmith:admin. */
function guarded<Req, Res>(admin: Administration, handler: (request: Req) => Promise<Res>) {
  return async (request: Req, context: HandlerContext): Promise<Res> => {
    await admin.authorize(context.requestHeader.get("authorization"));
    return handler(request);
  };
}

export function adminService(admin: Administration): ServiceImpl<typeof AdminService> {
  return {
    createClient: guarded(admin, async (request) => {
      const created = await admin.createClient({
        id: request.id,
        scopes: request.scopes,
        audiences: request.audiences,
        tokenLifetimeSeconds: Number(request.tokenLifetimeSeconds),
        jwksJson: request.jwksJson,
        jwksUri: request.jwksUri,
        tokenEndpointAuthMethods: request.tokenEndpointAuthMethods,
      });
      return { client: clientInfo(created.client), clientSecret: created.secret ?? "" };
    }),
    getClient: guarded(admin, async (request) => ({ client: clientInfo(await admin.getClient(request.id)) })),
    listClients: guarded(admin, async (request) => {
      const page = await admin.listClients(request.pageSize, request.pageToken);
      return { clients: page.items.map(clientInfo), nextPageToken: page.nextPageToken };
    }),
    updateClient: guarded(admin, async (request) => {
      const fields = request.client;
      const updated = await admin.updateClient(
        fields?.id ?? "",
        {
          scopes: fields?.scopes,
          audiences: fields?.audiences,
          tokenLifetimeSeconds: Number(fields?.tokenLifetimeSeconds ?? 0n),
          jwksJson: fields?.jwksJson,
          jwksUri: fields?.jwksUri,
          tokenEndpointAuthMethods: fields?.tokenEndpointAuthMethods,
        },
        request.updateMask?.paths ?? [],
      );
      return { client: clientInfo(updated) };
    }),
    rotateClientSecret: guarded(admin, async (request) => {
      const rotated = await admin.rotateClientSecret(request.id, Number(request.overlapSeconds));
      return { client: clientInfo(rotated.client), clientSecret: rotated.secret };
    }),
    deleteClient: guarded(admin, async (request) => {
      await admin.deleteClient(request.id);
      return {};
    }),
    createApiKey: guarded(admin, async (request) => {
      const created = await admin.createApiKey({
        name: request.name,
        scopes: request.scopes,
        grantLifetimeSeconds: Number(request.grantLifetimeSeconds),
      });
      return { apiKey: apiKeyInfo(created.apiKey), key: created.key };
    }),
    listApiKeys: guarded(admin, async (request) => {
      const page = await admin.listApiKeys(request.pageSize, request.pageToken);
      return { apiKeys: page.items.map(apiKeyInfo), nextPageToken: page.nextPageToken };
    }),
    updateApiKey: guarded(admin, async (request) => {
      const updated = await admin.updateApiKey(
        request.apiKey?.name ?? "",
        { scopes: request.apiKey?.scopes, grantLifetimeSeconds: Number(request.apiKey?.grantLifetimeSeconds ?? 0n) },
        request.updateMask?.paths ?? [],
      );
      return { apiKey: apiKeyInfo(updated) };
    }),
    deleteApiKey: guarded(admin, async (request) => {
      await admin.deleteApiKey(request.name);
      return {};
    }),
    listSigningKeys: guarded(admin, async () => ({ keys: (await admin.listSigningKeys()).map(signingKeyInfo) })),
    rotateSigningKey: guarded(admin, async () => ({ key: signingKeyInfo(await admin.rotateSigningKey()) })),
  };
}
