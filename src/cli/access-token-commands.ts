import { toJson } from "@bufbuild/protobuf";
import { AccessTokenInfoSchema, CreateAccessTokenResponseSchema, RevokeAccessTokenResponseSchema, type AccessTokenInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { allPages } from "../client/all-pages.js";
import { usageError } from "./cli-failure.js";
import { CONNECTION_USAGE, durationFlag, listFlag, noPositionals, parseCommand, requireName } from "./command-line.js";
import { adminCall, connectAdmin } from "./connection.js";
import { formatFields, formatTable, jsonText as json, listText, terminalText, timeText } from "./text-output.js";

export const ACCESS_TOKEN_USAGE = `usage: tokensmith access-token <command> [options]

commands:
  create --client ID --name NAME [--scopes a,b] [--lifetime SECONDS]
                            issue a named access token of client ID (an ordinary token of that
                            client); prints the token, the only time it is shown. --scopes: some
                            of the client's (default: all of them; --scope may repeat);
                            --lifetime: default the client's, at most the tenant's maximum
  list [--client ID]        the named tokens still in force, by name (never the tokens)
  revoke ID                 revoke a named token by its id (or --id ID): inactive everywhere at once

${CONNECTION_USAGE}
`;

const CREATE_OPTIONS = {
  client: { type: "string" },
  name: { type: "string" },
  scopes: { type: "string", multiple: true },
  scope: { type: "string", multiple: true },
  lifetime: { type: "string" },
} as const;

function accessTokenFields(info: AccessTokenInfo): string {
  return formatFields([
    ["id", info.id],
    ["name", info.name],
    ["client", info.clientId],
    ["scopes", listText(info.scopes)],
    ["audiences", listText(info.audiences)],
    ["created", timeText(info.createTime)],
    ["expires", timeText(info.expireTime)],
    ["created by", info.createdBy],
  ]);
}

const required = (value: string | undefined, flag: string, what: string) => {
  if (value === undefined || value === "") throw usageError(`missing ${flag} (${what})`, ACCESS_TOKEN_USAGE);
  return value;
};

export async function runAccessTokenCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const [command, ...rest] = args;
  switch (command) {
    case "create": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, CREATE_OPTIONS, ACCESS_TOKEN_USAGE, env);
      noPositionals(positionals, ACCESS_TOKEN_USAGE);
      const clientId = required(values.client, "--client", "the client the token is for");
      const name = required(values.name, "--name", "the token's name");
      const scopes = [...(listFlag(values.scopes) ?? []), ...(listFlag(values.scope) ?? [])];
      const lifetimeSeconds = BigInt(durationFlag(values.lifetime, "--lifetime", ACCESS_TOKEN_USAGE) ?? 0);
      const admin = await connectAdmin(connection);
      const created = await adminCall(
        connection,
        `create access token "${name}" for client "${clientId}"`,
        () => admin.createAccessToken({ clientId, name, scopes, lifetimeSeconds }),
        `the scope tokensmith:admin, and --scopes may name only scopes client "${clientId}" holds`,
      );
      if (asJson) return json(toJson(CreateAccessTokenResponseSchema, created, { alwaysEmitImplicit: true }));
      return (
        `created access token "${terminalText(name)}" of client "${clientId}"\n\n${accessTokenFields(created.accessToken!)}\n` +
        `token: ${created.token}\nThis is the only time the token is shown: store it now (e.g. in your secret manager).\n`
      );
    }
    case "list": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { client: CREATE_OPTIONS.client }, ACCESS_TOKEN_USAGE, env);
      noPositionals(positionals, ACCESS_TOKEN_USAGE);
      const clientId = values.client ?? "";
      const admin = await connectAdmin(connection);
      const tokens = await allPages(async (pageToken) => {
        const page = await adminCall(connection, "list access tokens", () => admin.listAccessTokens({ clientId, pageSize: 500, pageToken }));
        return { items: page.accessTokens, nextPageToken: page.nextPageToken };
      });
      if (asJson) return json({ accessTokens: tokens.map((info) => toJson(AccessTokenInfoSchema, info, { alwaysEmitImplicit: true })) });
      return formatTable(
        ["NAME", "CLIENT", "SCOPES", "EXPIRES", "CREATED BY", "ID"],
        tokens.map((info) => [info.name, info.clientId, listText(info.scopes, ","), timeText(info.expireTime), info.createdBy, info.id]),
      );
    }
    case "revoke": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { id: { type: "string" } }, ACCESS_TOKEN_USAGE, env);
      const id = requireName(values.id, positionals, "access token id", "--id", ACCESS_TOKEN_USAGE);
      const admin = await connectAdmin(connection);
      const revoked = await adminCall(connection, `revoke access token "${id}"`, () => admin.revokeAccessToken({ id }));
      if (asJson) return json(toJson(RevokeAccessTokenResponseSchema, revoked, { alwaysEmitImplicit: true }));
      const info = revoked.accessToken!;
      return `revoked access token "${id}" ("${terminalText(info.name)}" of client "${info.clientId}")\n`;
    }
    case undefined:
      throw usageError("missing the access-token command", ACCESS_TOKEN_USAGE);
    default:
      throw usageError(`unknown access-token command "${command}"`, ACCESS_TOKEN_USAGE);
  }
}
