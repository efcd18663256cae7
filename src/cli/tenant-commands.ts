import { toJson } from "@bufbuild/protobuf";
import {
  CreateTenantResponseSchema,
  GetTenantResponseSchema,
  TenantSchema,
  UpdateTenantResponseSchema,
  type Tenant,
} from "../../gen/tokensmith/v1/admin_service_pb.js";
import { allPages } from "../client/all-pages.js";
import { TENANTS_SCOPE } from "../domain/scopes.js";
import { updateMaskOf } from "../rpc/admin-messages.js";
import { usageError } from "./cli-failure.js";
import { CONNECTION_USAGE, durationFlag, listFlag, noPositionals, parseCommand, requireName } from "./command-line.js";
import { adminCall, connectAdmin, type Connection } from "./connection.js";
import { formatFields, formatTable, jsonText as json, listText, orDash, sourceText, timeText } from "./text-output.js";

export const TENANT_USAGE = `usage: tokensmith tenant <command> [options]

For platform administrators: the client must be one of the default tenant, allowed the
scope ${TENANTS_SCOPE}.

commands:
  create ID [--name TEXT] [--default-lifetime D] [--max-lifetime D] [--cors-origins a,b]
         [--admin-client CLIENT_ID]
                            create a tenant (issuer <url>/t/ID); with --admin-client, also its
                            first admin client (scope tokensmith:admin in the tenant), whose
                            secret is printed, the only time it is shown
  list                      every tenant: the default, config-declared ones, created ones
  get ID                    one tenant (or --id ID)
  update ID [--name TEXT] [--default-lifetime D] [--max-lifetime D] [--cors-origins a,b]
                            replace the fields given ("" or 0: back to the deployment's)
  delete ID                 delete a tenant: its tokens stop being active at once, its clients
                            and API keys are refused, its data is removed in the background
                            (its id is free again once that is done)

Lifetimes: 0 means the deployment's; at most the deployment's maxTokenLifetimeSeconds.
Durations: 3600, 90s, 15m, 1h, 30d. Manage a tenant's clients and API keys with
\`tokensmith client … --tenant ID\` and a client of that tenant.

${CONNECTION_USAGE}
`;

const FIELD_OPTIONS = {
  id: { type: "string" },
  name: { type: "string" },
  "default-lifetime": { type: "string" },
  "max-lifetime": { type: "string" },
  "cors-origins": { type: "string", multiple: true },
} as const;

const NEEDS = `the scope ${TENANTS_SCOPE}, as a client of the default tenant`;

const lifetimeText = (seconds: bigint) => (seconds === 0n ? "the deployment's" : `${seconds}s`);

function tenantFields(tenant: Tenant): string {
  const fields: Array<[string, string]> = [
    ["id", tenant.id],
    ["name", orDash(tenant.displayName)],
    ["source", sourceText(tenant.source)],
    ["issuer", tenant.issuer],
    ["default token lifetime", lifetimeText(tenant.defaultTokenLifetimeSeconds)],
    ["max token lifetime", lifetimeText(tenant.maxTokenLifetimeSeconds)],
    ["CORS origins", listText(tenant.corsAllowedOrigins)],
    ["created", timeText(tenant.createTime)],
  ];
  if (tenant.deleteTime !== undefined) fields.push(["being deleted since", timeText(tenant.deleteTime)]);
  return formatFields(fields);
}

/** The tenant commands act on the platform: a --tenant would send them to a tenant, where they are refused. */
function platformConnection(connection: Connection): Connection {
  if (connection.tenant !== undefined) {
    throw usageError(`tenant commands are the default tenant's (the platform's): drop --tenant (or TOKENSMITH_TENANT="${connection.tenant}")`, TENANT_USAGE);
  }
  return connection;
}

function fieldChanges(values: { name?: string; "default-lifetime"?: string; "max-lifetime"?: string; "cors-origins"?: string[] }) {
  const lifetime = (flag: "default-lifetime" | "max-lifetime") => {
    const seconds = durationFlag(values[flag], `--${flag}`, TENANT_USAGE);
    return seconds === undefined ? undefined : BigInt(seconds);
  };
  return {
    displayName: values.name,
    defaultTokenLifetimeSeconds: lifetime("default-lifetime"),
    maxTokenLifetimeSeconds: lifetime("max-lifetime"),
    corsAllowedOrigins: listFlag(values["cors-origins"]),
  };
}

export async function runTenantCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const [command, ...rest] = args;
  switch (command) {
    case "create": {
      const options = { ...FIELD_OPTIONS, "admin-client": { type: "string" } } as const;
      const { values, positionals, connection, json: asJson } = parseCommand(rest, options, TENANT_USAGE, env);
      const id = requireName(values.id, positionals, "tenant id", "--id", TENANT_USAGE);
      const changes = fieldChanges(values);
      const request = {
        id,
        displayName: changes.displayName ?? "",
        defaultTokenLifetimeSeconds: changes.defaultTokenLifetimeSeconds ?? 0n,
        maxTokenLifetimeSeconds: changes.maxTokenLifetimeSeconds ?? 0n,
        corsAllowedOrigins: changes.corsAllowedOrigins ?? [],
        adminClientId: values["admin-client"] ?? "",
      };
      const platform = platformConnection(connection);
      const admin = await connectAdmin(platform, TENANTS_SCOPE);
      const created = await adminCall(platform, `create tenant "${id}"`, () => admin.createTenant(request), NEEDS);
      if (asJson) return json(toJson(CreateTenantResponseSchema, created, { alwaysEmitImplicit: true }));
      const text = `created tenant "${id}"\n\n${tenantFields(created.tenant!)}`;
      if (created.adminClient === undefined) return text;
      return (
        `${text}\nadmin client:        ${created.adminClient.id} (scope ${created.adminClient.scopes.join(" ")} in tenant "${id}")\n` +
        `admin client_secret: ${created.adminClientSecret}\n` +
        "This is the only time the secret is shown: store it now (e.g. in your secret manager).\n"
      );
    }
    case "list": {
      const { positionals, connection, json: asJson } = parseCommand(rest, {}, TENANT_USAGE, env);
      noPositionals(positionals, TENANT_USAGE);
      const platform = platformConnection(connection);
      const admin = await connectAdmin(platform, TENANTS_SCOPE);
      const tenants = await allPages(async (pageToken) => {
        const page = await adminCall(platform, "list tenants", () => admin.listTenants({ pageSize: 500, pageToken }), NEEDS);
        return { items: page.tenants, nextPageToken: page.nextPageToken };
      });
      if (asJson) return json({ tenants: tenants.map((tenant) => toJson(TenantSchema, tenant, { alwaysEmitImplicit: true })) });
      return formatTable(
        ["ID", "SOURCE", "NAME", "DEFAULT LIFETIME", "MAX LIFETIME", "CREATED", "STATE"],
        tenants.map((tenant) => [
          tenant.id,
          sourceText(tenant.source),
          orDash(tenant.displayName),
          tenant.defaultTokenLifetimeSeconds === 0n ? "-" : `${tenant.defaultTokenLifetimeSeconds}s`,
          tenant.maxTokenLifetimeSeconds === 0n ? "-" : `${tenant.maxTokenLifetimeSeconds}s`,
          timeText(tenant.createTime),
          tenant.deleteTime === undefined ? "active" : "deleting",
        ]),
      );
    }
    case "get": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { id: FIELD_OPTIONS.id }, TENANT_USAGE, env);
      const id = requireName(values.id, positionals, "tenant id", "--id", TENANT_USAGE);
      const platform = platformConnection(connection);
      const admin = await connectAdmin(platform, TENANTS_SCOPE);
      const got = await adminCall(platform, `get tenant "${id}"`, () => admin.getTenant({ id }), NEEDS);
      if (asJson) return json(toJson(GetTenantResponseSchema, got, { alwaysEmitImplicit: true }));
      return tenantFields(got.tenant!);
    }
    case "update": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, FIELD_OPTIONS, TENANT_USAGE, env);
      const id = requireName(values.id, positionals, "tenant id", "--id", TENANT_USAGE);
      const changes = fieldChanges(values);
      if (Object.values(changes).every((value) => value === undefined)) {
        throw usageError("nothing to update: give --name, --default-lifetime, --max-lifetime or --cors-origins", TENANT_USAGE);
      }
      const platform = platformConnection(connection);
      const admin = await connectAdmin(platform, TENANTS_SCOPE);
      const updated = await adminCall(
        platform,
        `update tenant "${id}"`,
        () => admin.updateTenant({ tenant: { id, ...changes }, updateMask: updateMaskOf(TenantSchema, changes) }),
        NEEDS,
      );
      if (asJson) return json(toJson(UpdateTenantResponseSchema, updated, { alwaysEmitImplicit: true }));
      return `updated tenant "${id}"\n\n${tenantFields(updated.tenant!)}`;
    }
    case "delete": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { id: FIELD_OPTIONS.id }, TENANT_USAGE, env);
      const id = requireName(values.id, positionals, "tenant id", "--id", TENANT_USAGE);
      const platform = platformConnection(connection);
      const admin = await connectAdmin(platform, TENANTS_SCOPE);
      await adminCall(platform, `delete tenant "${id}"`, () => admin.deleteTenant({ id }), NEEDS);
      return asJson
        ? json({ id, deleted: true })
        : `deleted tenant "${id}": its tokens are no longer active and its clients are refused; its data is being removed\n`;
    }
    case undefined:
      throw usageError("missing the tenant command", TENANT_USAGE);
    default:
      throw usageError(`unknown tenant command "${command}"`, TENANT_USAGE);
  }
}
