import { create, toJson } from "@bufbuild/protobuf";
import {
  CreateTrustedIssuerResponseSchema,
  SubjectMappingSchema,
  TrustedIssuerInfoSchema,
  type SubjectMapping,
  type TrustedIssuerInfo,
} from "../../gen/tokensmith/v1/admin_service_pb.js";
import { allPages } from "../client/all-pages.js";
import { claimConditions } from "../domain/claim-conditions.js";
import { usageError } from "./cli-failure.js";
import { CONNECTION_USAGE, listFlag, noPositionals, parseCommand, readJwksFile, requireName } from "./command-line.js";
import { adminCall, connectAdmin } from "./connection.js";
import { formatFields, formatTable, jsonText as json, listText, sourceText, timeText } from "./text-output.js";

export const TRUSTED_ISSUER_USAGE = `usage: tokensmith trusted-issuer <command> [options]

External issuers (Kubernetes, GitHub Actions, any platform that hands its workloads a signed
JWT) whose tokens authenticate the federated_jwt clients their subjects map to, beside the
config file's trustedIssuers (read-only here).

commands:
  create ISSUER (--jwks-file FILE | --jwks JSON | --jwks-uri URL) --audience A [--audience B]
         --map SUBJECT=CLIENT_ID[,CLAIM=VALUE…] [--map …]
                            trust ISSUER (or --issuer ISSUER), the exact iss of its tokens
  list                      every trusted issuer: config-declared ones, then created ones
  delete ISSUER             stop trusting a created issuer (or --issuer ISSUER): its tokens
                            are refused from now on

create:
  --jwks-file FILE, --jwks JSON
                            the issuer's public keys, a JWK Set ({"keys": [...]}), or
  --jwks-uri URL            where they are fetched from (the server's clientJwksUris policy)
  --audience A              its tokens must name one of these in aud (repeat it, or a,b)
  --map SUBJECT=CLIENT_ID[,CLAIM=VALUE…]
                            a token whose sub is SUBJECT (exactly; ending in *, by prefix)
                            authenticates client CLIENT_ID (registered with --auth-method
                            federated_jwt), if each CLAIM of the token equals its VALUE (a
                            string; an array claim must contain it). Repeat --map: the first
                            mapping that matches decides. The subject is what precedes the
                            last "=" before the first ","; a subject or value with a ","
                            cannot be given here (use the AdminService)
  e.g. --map 'system:serviceaccount:prod:orders=orders,kubernetes.io/namespace=prod'
       --map 'repo:my-org/app:ref:refs/heads/main=app-deployer,repository_owner=my-org'

No update: delete and create again.

${CONNECTION_USAGE}
`;

const CREATE_OPTIONS = {
  issuer: { type: "string" },
  "jwks-file": { type: "string" },
  jwks: { type: "string" },
  "jwks-uri": { type: "string" },
  audience: { type: "string", multiple: true },
  audiences: { type: "string", multiple: true },
  map: { type: "string", multiple: true },
} as const;

/** `SUBJECT=CLIENT_ID[,CLAIM=VALUE…]`, as --map takes it and the list shows it. */
function mappingOf(text: string): SubjectMapping {
  const [head = "", ...conditions] = text.split(",");
  const split = head.lastIndexOf("=");
  const subject = head.slice(0, split);
  const clientId = head.slice(split + 1);
  if (split < 0 || subject === "" || clientId === "") throw usageError(`--map "${text}" must be SUBJECT=CLIENT_ID[,CLAIM=VALUE…]`, TRUSTED_ISSUER_USAGE);
  const parsed = claimConditions(conditions);
  if ("malformed" in parsed) throw usageError(`the claim condition "${parsed.malformed}" in --map "${text}" must be CLAIM=VALUE`, TRUSTED_ISSUER_USAGE);
  if ("repeated" in parsed) throw usageError(`the claim "${parsed.repeated}" is given twice in --map "${text}": give each claim once`, TRUSTED_ISSUER_USAGE);
  return create(SubjectMappingSchema, { subject, clientId, claims: parsed.claims });
}

const mappingText = (mapping: SubjectMapping) =>
  [`${mapping.subject}=${mapping.clientId}`, ...Object.entries(mapping.claims).map(([claim, value]) => `${claim}=${value}`)].join(",");

const mappingsText = (trusted: TrustedIssuerInfo) => listText(trusted.subjectMappings.map(mappingText), "; ");

/** The JWKS URI, or how many keys the inline JWK Set holds. */
function keysText(trusted: TrustedIssuerInfo): string {
  if (trusted.jwksUri !== "") return trusted.jwksUri;
  const keys = (JSON.parse(trusted.jwksJson) as { keys?: unknown[] }).keys?.length ?? 0;
  return `inline JWK Set (${keys} ${keys === 1 ? "key" : "keys"})`;
}

function trustedIssuerFields(trusted: TrustedIssuerInfo): string {
  return formatFields([
    ["issuer", trusted.issuer],
    ["source", sourceText(trusted.source)],
    ["keys", keysText(trusted)],
    ["audiences", listText(trusted.audiences)],
    ["mappings", mappingsText(trusted)],
    ["created", timeText(trusted.createTime)],
  ]);
}

/** Exactly one of the three ways to give the issuer's keys. */
function keysOf(values: { "jwks-file"?: string; jwks?: string; "jwks-uri"?: string }): { jwksJson: string; jwksUri: string } {
  const given = [values["jwks-file"], values.jwks, values["jwks-uri"]].filter((value) => value !== undefined);
  if (given.length > 1) throw usageError("give one of --jwks-file, --jwks or --jwks-uri, not several", TRUSTED_ISSUER_USAGE);
  if (given.length === 0) throw usageError("missing the issuer's keys: --jwks-file FILE, --jwks JSON or --jwks-uri URL", TRUSTED_ISSUER_USAGE);
  return { jwksJson: readJwksFile(values["jwks-file"], TRUSTED_ISSUER_USAGE) ?? values.jwks ?? "", jwksUri: values["jwks-uri"] ?? "" };
}

export async function runTrustedIssuerCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const [command, ...rest] = args;
  switch (command) {
    case "create": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, CREATE_OPTIONS, TRUSTED_ISSUER_USAGE, env);
      const issuer = requireName(values.issuer, positionals, "trusted issuer", "--issuer", TRUSTED_ISSUER_USAGE);
      const keys = keysOf(values);
      const audiences = [...(listFlag(values.audience) ?? []), ...(listFlag(values.audiences) ?? [])];
      if (audiences.length === 0) throw usageError("missing --audience (what its tokens name in aud)", TRUSTED_ISSUER_USAGE);
      if (values.map === undefined) throw usageError("missing --map SUBJECT=CLIENT_ID (which client a subject acts as)", TRUSTED_ISSUER_USAGE);
      const subjectMappings = values.map.map(mappingOf);
      const admin = await connectAdmin(connection);
      const created = await adminCall(connection, `create trusted issuer "${issuer}"`, () => admin.createTrustedIssuer({ issuer, ...keys, audiences, subjectMappings }));
      if (asJson) return json(toJson(CreateTrustedIssuerResponseSchema, created, { alwaysEmitImplicit: true }));
      return `created trusted issuer "${issuer}"\n\n${trustedIssuerFields(created.trustedIssuer!)}`;
    }
    case "list": {
      const { positionals, connection, json: asJson } = parseCommand(rest, {}, TRUSTED_ISSUER_USAGE, env);
      noPositionals(positionals, TRUSTED_ISSUER_USAGE);
      const admin = await connectAdmin(connection);
      const issuers = await allPages(async (pageToken) => {
        const page = await adminCall(connection, "list trusted issuers", () => admin.listTrustedIssuers({ pageSize: 500, pageToken }));
        return { items: page.trustedIssuers, nextPageToken: page.nextPageToken };
      });
      if (asJson) return json({ trustedIssuers: issuers.map((trusted) => toJson(TrustedIssuerInfoSchema, trusted, { alwaysEmitImplicit: true })) });
      return formatTable(
        ["ISSUER", "KEYS", "AUDIENCES", "MAPPINGS", "SOURCE", "CREATED"],
        issuers.map((trusted) => [
          trusted.issuer,
          trusted.jwksUri === "" ? "jwks" : trusted.jwksUri,
          listText(trusted.audiences, ","),
          mappingsText(trusted),
          sourceText(trusted.source),
          timeText(trusted.createTime),
        ]),
      );
    }
    case "delete": {
      const { values, positionals, connection, json: asJson } = parseCommand(rest, { issuer: CREATE_OPTIONS.issuer }, TRUSTED_ISSUER_USAGE, env);
      const issuer = requireName(values.issuer, positionals, "trusted issuer", "--issuer", TRUSTED_ISSUER_USAGE);
      const admin = await connectAdmin(connection);
      await adminCall(connection, `delete trusted issuer "${issuer}"`, () => admin.deleteTrustedIssuer({ issuer }));
      return asJson ? json({ issuer, deleted: true }) : `deleted trusted issuer "${issuer}": its tokens are refused from now on\n`;
    }
    case undefined:
      throw usageError("missing the trusted-issuer command", TRUSTED_ISSUER_USAGE);
    default:
      throw usageError(`unknown trusted-issuer command "${command}"`, TRUSTED_ISSUER_USAGE);
  }
}
