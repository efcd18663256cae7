import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AdminService, ApiKeyInfoSchema, ClientInfoSchema } from "../../gen/tokensmith/v1/admin_service_pb.js";
import type { Domain } from "../app.js";
import type { ApiKeyChanges, ClientChanges } from "../domain/administration.js";
import { apiKeyChanges, apiKeyInfo, clientChanges, clientInfo, maskedChanges, signingKeyInfo } from "./admin-messages.js";

type Administration = Domain["administration"];

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
      const created = await admin.createClient({ id: request.id, ...clientChanges(request) });
      return { client: clientInfo(created.client), clientSecret: created.secret ?? "" };
    }),
    getClient: guarded(admin, async (request) => ({ client: clientInfo(await admin.getClient(request.id)) })),
    listClients: guarded(admin, async (request) => {
      const page = await admin.listClients(request.pageSize, request.pageToken);
      return { clients: page.items.map(clientInfo), nextPageToken: page.nextPageToken };
    }),
    updateClient: guarded(admin, async (request) => {
      const changes = maskedChanges<ClientChanges>(ClientInfoSchema, request.updateMask, clientChanges(request.client));
      return { client: clientInfo(await admin.updateClient(request.client?.id ?? "", changes)) };
    }),
    rotateClientSecret: guarded(admin, async (request) => {
      const rotated = await admin.rotateClientSecret(request.id, Number(request.overlapSeconds));
      return { client: clientInfo(rotated.client), clientSecret: rotated.secret };
    }),
    deleteClient: guarded(admin, async (request) => {
      await admin.deleteClient(request.id);
      return {};
    }),
    revokeClientTokens: guarded(admin, async (request) => ({ revokeTime: timestampFromMs(await admin.revokeClientTokens(request.id)) })),
    createApiKey: guarded(admin, async (request) => {
      const created = await admin.createApiKey({ name: request.name, ...apiKeyChanges(request) });
      return { apiKey: apiKeyInfo(created.apiKey), key: created.key };
    }),
    listApiKeys: guarded(admin, async (request) => {
      const page = await admin.listApiKeys(request.pageSize, request.pageToken);
      return { apiKeys: page.items.map(apiKeyInfo), nextPageToken: page.nextPageToken };
    }),
    updateApiKey: guarded(admin, async (request) => {
      const changes = maskedChanges<ApiKeyChanges>(ApiKeyInfoSchema, request.updateMask, apiKeyChanges(request.apiKey));
      return { apiKey: apiKeyInfo(await admin.updateApiKey(request.apiKey?.name ?? "", changes)) };
    }),
    deleteApiKey: guarded(admin, async (request) => {
      await admin.deleteApiKey(request.name);
      return {};
    }),
    listSigningKeys: guarded(admin, async () => ({ keys: (await admin.listSigningKeys()).map(signingKeyInfo) })),
    rotateSigningKey: guarded(admin, async () => ({ key: signingKeyInfo(await admin.rotateSigningKey()) })),
  };
}
