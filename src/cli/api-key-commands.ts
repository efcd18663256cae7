import { toJson } from "@bufbuild/protobuf";
import { ApiKeyInfoSchema, CreateApiKeyResponseSchema, UpdateApiKeyResponseSchema, type ApiKeyInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { allPages } from "../client/all-pages.js";
import { GRANT_LIFETIME } from "../domain/api-key.js";
import { updateMaskOf } from "../rpc/admin-messages.js";
import { usageError } from "./cli-failure.js";
import { CONNECTION_USAGE, durationFlag, listFlag, noPositionals, parseCommand, requireName } from "./command-line.js";
import { adminCall, connectAdmin } from "./connection.js";
import { formatFields, formatTable, jsonText as json, listText, orDash, secondsText, sourceText, timeText } from "./text-output.js";

export const API_KEY_USAGE = `usage: tokensmith apikey <command> [options]

commands:
  create NAME --scopes a,b [--lifetime SECONDS]
                            create an API key (or --name NAME); prints the key, the only time it
                            is shown. --lifetime: how long its grants live (default ${GRANT_LIFETIME.defaultSeconds}s, at most ${GRANT_LIFETIME.maxSeconds}s)
  list                      every API key, config-declared ones included (never the keys)
  update NAME [--scopes a,b] [--lifetime SECONDS]
                            replace the scopes and/or the grant lifetime
  delete NAME               delete an API key; IssueGrant with it fails from then on

${CONNECTION_USAGE}
`;

const FIELD_OPTIONS = {
  name: { type: "string" },
  scopes: { type: "string", multiple: true },
  lifetime: { type: "string" },
} as const;


function apiKeyFields(key: ApiKeyInfo): string {
  return formatFields([
    ["name", key.name],
    ["source", sourceText(key.source)],
    ["scopes", listText(key.scopes)],
    ["grant lifetime", secondsText(key.grantLifetimeSeconds)],
    ["key prefix", orDash(key.keyPrefix)],
    ["created", timeText(key.createTime)],
  ]);
}

export async function runApiKeyCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const [command, ...rest] = args;
  switch (command) {
    case "create": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, FIELD_OPTIONS, API_KEY_USAGE, env);
      const name = requireName(values.name, positionals, "API key name", "--name", API_KEY_USAGE);
      const scopes = listFlag(values.scopes) ?? [];
      if (scopes.length === 0) throw usageError("an API key needs --scopes (the grants it may issue)", API_KEY_USAGE);
      const grantLifetimeSeconds = BigInt(durationFlag(values.lifetime, "--lifetime", API_KEY_USAGE) ?? 0);
      const admin = await connectAdmin(connection);
      const created = await adminCall(connection, `create API key "${name}"`, () => admin.createApiKey({ name, scopes, grantLifetimeSeconds }));
      if (asJson) return json(toJson(CreateApiKeyResponseSchema, created, { alwaysEmitImplicit: true }));
      return (
        `created API key "${name}"\n\n${apiKeyFields(created.apiKey!)}\n` +
        `key: ${created.key}\nThis is the only time the key is shown: store it now (e.g. in your secret manager).\n`
      );
    }
    case "list": {
      const { positionals, connection, json: asJson } = parseCommand(rest, {}, API_KEY_USAGE, env);
      noPositionals(positionals, API_KEY_USAGE);
      const admin = await connectAdmin(connection);
      const keys = await allPages(async (pageToken) => {
        const page = await adminCall(connection, "list API keys", () => admin.listApiKeys({ pageSize: 500, pageToken }));
        return { items: page.apiKeys, nextPageToken: page.nextPageToken };
      });
      if (asJson) return json({ apiKeys: keys.map((key) => toJson(ApiKeyInfoSchema, key, { alwaysEmitImplicit: true })) });
      return formatTable(
        ["NAME", "SOURCE", "SCOPES", "GRANT LIFETIME", "KEY PREFIX", "CREATED"],
        keys.map((key) => [
          key.name,
          sourceText(key.source),
          listText(key.scopes, ","),
          secondsText(key.grantLifetimeSeconds),
          orDash(key.keyPrefix),
          timeText(key.createTime),
        ]),
      );
    }
    case "update": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, FIELD_OPTIONS, API_KEY_USAGE, env);
      const name = requireName(values.name, positionals, "API key name", "--name", API_KEY_USAGE);
      const scopes = listFlag(values.scopes);
      const lifetime = durationFlag(values.lifetime, "--lifetime", API_KEY_USAGE);
      if (scopes === undefined && lifetime === undefined) throw usageError("nothing to update: give --scopes and/or --lifetime", API_KEY_USAGE);
      const changes = { scopes, grantLifetimeSeconds: lifetime === undefined ? undefined : BigInt(lifetime) };
      const admin = await connectAdmin(connection);
      const updated = await adminCall(connection, `update API key "${name}"`, () =>
        admin.updateApiKey({ apiKey: { name, ...changes }, updateMask: updateMaskOf(ApiKeyInfoSchema, changes) }),
      );
      if (asJson) return json(toJson(UpdateApiKeyResponseSchema, updated, { alwaysEmitImplicit: true }));
      return `updated API key "${name}"\n\n${apiKeyFields(updated.apiKey!)}`;
    }
    case "delete": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { name: FIELD_OPTIONS.name }, API_KEY_USAGE, env);
      const name = requireName(values.name, positionals, "API key name", "--name", API_KEY_USAGE);
      const admin = await connectAdmin(connection);
      await adminCall(connection, `delete API key "${name}"`, () => admin.deleteApiKey({ name }));
      return asJson ? json({ name, deleted: true }) : `deleted API key "${name}"\n`;
    }
    case undefined:
      throw usageError("missing the apikey command", API_KEY_USAGE);
    default:
      throw usageError(`unknown apikey command "${command}"`, API_KEY_USAGE);
  }
}
