import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  ClientInfoSchema,
  CreateClientResponseSchema,
  GetClientResponseSchema,
  RevokeClientTokensResponseSchema,
  RotateClientSecretResponseSchema,
  UpdateClientResponseSchema,
  type ClientInfo,
} from "../../gen/tokensmith/v1/admin_service_pb.js";
import { allPages } from "../client/all-pages.js";
import { updateMaskOf } from "../rpc/admin-messages.js";
import { usageError } from "./cli-failure.js";
import { CONNECTION_USAGE, durationFlag, listFlag, noPositionals, parseCommand, readJwksFile, requireName } from "./command-line.js";
import { adminCall, connectAdmin } from "./connection.js";
import { formatFields, formatTable, jsonText as json, listText, secondsText, sourceText, timeText } from "./text-output.js";

export const CLIENT_USAGE = `usage: tokensmith client <command> [options]

commands:
  create [--id ID] [--scopes a,b] [--audiences x,y] [--lifetime SECONDS]
         [--jwks-file FILE | --jwks-uri URL] [--auth-method m1,m2] [--grant-types g1,g2]
                            create a client; prints its secret, the only time it is shown
                            (none when it authenticates with private_key_jwt or federated_jwt only)
  list                      every client, config-declared ones included
  get ID                    one client (or --id ID)
  update ID [--scopes a,b] [--audiences x,y] [--lifetime SECONDS] [--jwks-file FILE | --jwks-uri URL]
         [--auth-method m1,m2] [--grant-types g1,g2]
                            replace the fields given (--scopes "" clears the scopes)
  rotate-secret ID [--overlap DURATION]
                            issue a new secret; the old one keeps working for the overlap
                            (default: the server's secretOverlapSeconds), then stops
  delete ID                 delete a client; its tokens stop introspecting active
  revoke-tokens ID          the kill switch after a leak: every token the client was issued
                            up to now stops being active everywhere; the client stays and
                            gets new tokens (config-declared clients too)

Auth methods (how the client may authenticate; any other is refused): client_secret_basic,
client_secret_post, private_key_jwt, federated_jwt (a token of a trusted external issuer whose
subject maps to the client: config trustedIssuers, tokensmith trusted-issuer). Default:
private_key_jwt with --jwks-file or --jwks-uri, else client_secret_basic,client_secret_post.

Grant types (what the client may ask the token endpoint for; any other is refused with
unauthorized_client): client_credentials, urn:ietf:params:oauth:grant-type:token-exchange
(RFC 8693). Default: client_credentials.

Durations: 3600, 90s, 15m, 1h, 30d.

${CONNECTION_USAGE}
`;

const FIELD_OPTIONS = {
  id: { type: "string" },
  scopes: { type: "string", multiple: true },
  audiences: { type: "string", multiple: true },
  lifetime: { type: "string" },
  "jwks-file": { type: "string" },
  "jwks-uri": { type: "string" },
  "auth-method": { type: "string", multiple: true },
  "grant-types": { type: "string", multiple: true },
} as const;


function authenticationText(client: ClientInfo): string {
  const keys = client.jwksUri !== "" ? client.jwksUri : client.jwksJson !== "" ? "inline JWKS" : "no keys";
  return client.tokenEndpointAuthMethods.map((method) => (method === "private_key_jwt" ? `${method} (${keys})` : method)).join(", ");
}

function clientFields(client: ClientInfo): string {
  const fields: Array<[string, string]> = [
    ["id", client.id],
    ["source", sourceText(client.source)],
    ["scopes", listText(client.scopes)],
    ["audiences", listText(client.audiences)],
    ["token lifetime", secondsText(client.tokenLifetimeSeconds)],
    ["authentication", authenticationText(client)],
    ["grant types", listText(client.grantTypes, ", ")],
    ["created", timeText(client.createTime)],
  ];
  if (client.previousSecretExpireTime !== undefined) fields.push(["previous secret valid until", timeText(client.previousSecretExpireTime)]);
  return formatFields(fields);
}

const noSecretNote = (client: { tokenEndpointAuthMethods: readonly string[] }) => `No secret: this client authenticates with ${client.tokenEndpointAuthMethods.join(", ")} only.\n`;
const SECRET_NOTE = "This is the only time the secret is shown: store it now (e.g. in your secret manager).\n";

export async function runClientCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const [command, ...rest] = args;
  switch (command) {
    case "create": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, FIELD_OPTIONS, CLIENT_USAGE, env);
      noPositionals(positionals, CLIENT_USAGE);
      if (values["jwks-file"] !== undefined && values["jwks-uri"] !== undefined) throw usageError("give --jwks-file or --jwks-uri, not both", CLIENT_USAGE);
      const request = {
        id: values.id ?? "",
        scopes: listFlag(values.scopes) ?? [],
        audiences: listFlag(values.audiences) ?? [],
        tokenLifetimeSeconds: BigInt(durationFlag(values.lifetime, "--lifetime", CLIENT_USAGE) ?? 0),
        jwksJson: readJwksFile(values["jwks-file"], CLIENT_USAGE) ?? "",
        jwksUri: values["jwks-uri"] ?? "",
        tokenEndpointAuthMethods: listFlag(values["auth-method"]) ?? [],
        grantTypes: listFlag(values["grant-types"]) ?? [],
      };
      const admin = await connectAdmin(connection);
      const what = request.id === "" ? "create a client" : `create client "${request.id}"`;
      const created = await adminCall(connection, what, () => admin.createClient(request));
      if (asJson) return json(toJson(CreateClientResponseSchema, created, { alwaysEmitImplicit: true }));
      const client = created.client!;
      if (created.clientSecret === "") return `created client "${client.id}"\n\n${clientFields(client)}\n${noSecretNote(client)}`;
      return `created client "${client.id}"\n\n${clientFields(client)}\nclient_secret: ${created.clientSecret}\n${SECRET_NOTE}`;
    }
    case "list": {
      const { positionals, connection, json: asJson } = parseCommand(rest, {}, CLIENT_USAGE, env);
      noPositionals(positionals, CLIENT_USAGE);
      const admin = await connectAdmin(connection);
      const clients = await allPages(async (pageToken) => {
        const page = await adminCall(connection, "list clients", () => admin.listClients({ pageSize: 500, pageToken }));
        return { items: page.clients, nextPageToken: page.nextPageToken };
      });
      if (asJson) return json({ clients: clients.map((client) => toJson(ClientInfoSchema, client, { alwaysEmitImplicit: true })) });
      return formatTable(
        ["ID", "SOURCE", "SCOPES", "AUDIENCES", "LIFETIME", "CREATED"],
        clients.map((client) => [
          client.id,
          sourceText(client.source),
          listText(client.scopes, ","),
          listText(client.audiences, ","),
          secondsText(client.tokenLifetimeSeconds),
          timeText(client.createTime),
        ]),
      );
    }
    case "get": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { id: FIELD_OPTIONS.id }, CLIENT_USAGE, env);
      const id = requireName(values.id, positionals, "client id", "--id", CLIENT_USAGE);
      const admin = await connectAdmin(connection);
      const got = await adminCall(connection, `get client "${id}"`, () => admin.getClient({ id }));
      if (asJson) return json(toJson(GetClientResponseSchema, got, { alwaysEmitImplicit: true }));
      return clientFields(got.client!);
    }
    case "update": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, FIELD_OPTIONS, CLIENT_USAGE, env);
      const id = requireName(values.id, positionals, "client id", "--id", CLIENT_USAGE);
      if (values["jwks-file"] !== undefined && values["jwks-uri"] !== undefined) throw usageError("give --jwks-file or --jwks-uri, not both", CLIENT_USAGE);
      const lifetime = durationFlag(values.lifetime, "--lifetime", CLIENT_USAGE);
      const jwksJson = readJwksFile(values["jwks-file"], CLIENT_USAGE);
      const jwksUri = values["jwks-uri"];
      const changes = {
        scopes: listFlag(values.scopes),
        audiences: listFlag(values.audiences),
        tokenLifetimeSeconds: lifetime === undefined ? undefined : BigInt(lifetime),
        // A client authenticates with one kind of key: setting one clears the other.
        ...(jwksJson !== undefined || jwksUri !== undefined ? { jwksJson: jwksJson ?? "", jwksUri: jwksUri ?? "" } : {}),
        tokenEndpointAuthMethods: listFlag(values["auth-method"]),
        grantTypes: listFlag(values["grant-types"]),
      };
      if (Object.values(changes).every((value) => value === undefined)) {
        throw usageError("nothing to update: give --scopes, --audiences, --lifetime, --jwks-file, --jwks-uri, --auth-method or --grant-types", CLIENT_USAGE);
      }
      const admin = await connectAdmin(connection);
      const updated = await adminCall(connection, `update client "${id}"`, () =>
        admin.updateClient({ client: { id, ...changes }, updateMask: updateMaskOf(ClientInfoSchema, changes) }),
      );
      if (asJson) return json(toJson(UpdateClientResponseSchema, updated, { alwaysEmitImplicit: true }));
      return `updated client "${id}"\n\n${clientFields(updated.client!)}`;
    }
    case "rotate-secret": {
      const options = { id: FIELD_OPTIONS.id, overlap: { type: "string" } } as const;
      const { values, positionals, connection, json: asJson } = parseCommand(rest, options, CLIENT_USAGE, env);
      const id = requireName(values.id, positionals, "client id", "--id", CLIENT_USAGE);
      const overlapSeconds = BigInt(durationFlag(values.overlap, "--overlap", CLIENT_USAGE) ?? 0);
      const admin = await connectAdmin(connection);
      const rotated = await adminCall(connection, `rotate the secret of client "${id}"`, () => admin.rotateClientSecret({ id, overlapSeconds }));
      if (asJson) return json(toJson(RotateClientSecretResponseSchema, rotated, { alwaysEmitImplicit: true }));
      const until = rotated.client?.previousSecretExpireTime;
      return (
        `rotated the secret of client "${id}"; ` +
        (until === undefined ? "no previous secret is still valid\n" : `the previous secret works until ${timeText(until)}\n`) +
        `\nclient_secret: ${rotated.clientSecret}\n${SECRET_NOTE}`
      );
    }
    case "delete": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { id: FIELD_OPTIONS.id }, CLIENT_USAGE, env);
      const id = requireName(values.id, positionals, "client id", "--id", CLIENT_USAGE);
      const admin = await connectAdmin(connection);
      await adminCall(connection, `delete client "${id}"`, () => admin.deleteClient({ id }));
      return asJson ? json({ id, deleted: true }) : `deleted client "${id}"\n`;
    }
    case "revoke-tokens": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { id: FIELD_OPTIONS.id }, CLIENT_USAGE, env);
      const id = requireName(values.id, positionals, "client id", "--id", CLIENT_USAGE);
      const admin = await connectAdmin(connection);
      const revoked = await adminCall(connection, `revoke the tokens of client "${id}"`, () => admin.revokeClientTokens({ id }));
      if (asJson) return json({ id, ...(toJson(RevokeClientTokensResponseSchema, revoked) as object) });
      // To the millisecond, unlike timeText: tokens issued later in the same second stay active.
      const cutoff = revoked.revokeTime === undefined ? "-" : timestampDate(revoked.revokeTime).toISOString();
      return `revoked every token of client "${id}" issued up to ${cutoff}; the client is kept\n`;
    }
    case undefined:
      throw usageError("missing the client command", CLIENT_USAGE);
    default:
      throw usageError(`unknown client command "${command}"`, CLIENT_USAGE);
  }
}
