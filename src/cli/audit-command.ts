import { toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema, type AuditEvent } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { AUDIT_KINDS } from "../domain/audit-kinds.js";
import { usageError } from "./cli-failure.js";
import { CONNECTION_USAGE, durationFlag, noPositionals, parseCommand } from "./command-line.js";
import { adminCall, connectAdmin } from "./connection.js";
import { formatTable, jsonText as json, orDash, timeText } from "./text-output.js";

/** `words` joined by ", ", broken into lines of at most `width` characters, the next ones indented by `indent`. */
function wrapped(words: readonly string[], indent: number, width: number): string {
  const lines = [""];
  for (const [index, word] of words.entries()) {
    const piece = index === words.length - 1 ? word : `${word},`;
    const line = lines[lines.length - 1]!;
    if (line !== "" && indent + line.length + 1 + piece.length > width) lines.push(piece);
    else lines[lines.length - 1] = line === "" ? piece : `${line} ${piece}`;
  }
  return lines.join(`\n${" ".repeat(indent)}`);
}

export const AUDIT_USAGE = `usage: tokensmith audit [options]

The tenant's audit trail, newest first: every change made through the AdminService and
every peer locked out by the failed-authentication limits (kept auditRetentionDays, 90).

options:
  --actor ID                only what this client did
  --target T                only what was done to this client id, API key name, kid, tenant id or peer
  --kind K                  only this kind: ${wrapped(AUDIT_KINDS, 28, 100)}
  --since ISO|DURATION      only events at or after this time (2026-01-31T12:00:00Z) or this long
                            ago (90s, 15m, 1h, 30d)
  --until ISO               only events at or before this time
  --limit N                 at most N events (default 50, at most 10000)

${CONNECTION_USAGE}
`;

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 10_000;

/** An instant from an ISO 8601 date-time, or (where `durationAgo`) a duration before now. */
function instantFlag(value: string | undefined, flagName: string, durationAgo: boolean): number | undefined {
  if (value === undefined) return undefined;
  if (durationAgo && /^\d+[smhd]?$/.test(value.trim())) return Date.now() - durationFlag(value, flagName, AUDIT_USAGE)! * 1000;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw usageError(`${flagName} must be an ISO 8601 time such as 2026-01-31T12:00:00Z${durationAgo ? " or a duration such as 15m, 1h or 30d" : ""}, not "${value}"`, AUDIT_USAGE);
  }
  return ms;
}

function limitFlag(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  const limit = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw usageError(`--limit must be a whole number from 1 to ${MAX_LIMIT}, not "${value}"`, AUDIT_USAGE);
  return limit;
}

/** The actor as people read it: the client, with its tenant when that is not the one acted in; "tokensmith" for Tokensmith itself. */
function actorText(event: AuditEvent): string {
  if (event.actorClientId === "") return event.kind === "signing_key.rotated" ? "tokensmith" : "-";
  return event.actorTenant === event.tenant ? event.actorClientId : `${event.actorClientId} (${event.actorTenant})`;
}

const detailsText = (details: Record<string, string>) =>
  orDash(
    Object.entries(details)
      .map(([name, value]) => `${name}=${value}`)
      .join(" "),
  );

export async function runAuditCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { values, positionals, connection, json: asJson } = parseCommand(
    args,
    { actor: { type: "string" }, target: { type: "string" }, kind: { type: "string" }, since: { type: "string" }, until: { type: "string" }, limit: { type: "string" } },
    AUDIT_USAGE,
    env,
  );
  noPositionals(positionals, AUDIT_USAGE);
  const since = instantFlag(values.since, "--since", true);
  const until = instantFlag(values.until, "--until", false);
  if (since !== undefined && until !== undefined && until < since) throw usageError("--until is before --since", AUDIT_USAGE);
  const limit = limitFlag(values.limit);
  const admin = await connectAdmin(connection);
  const events: AuditEvent[] = [];
  let pageToken = "";
  do {
    const page = await adminCall(connection, "list the audit events", () =>
      admin.listAuditEvents({
        pageSize: Math.min(500, limit - events.length),
        pageToken,
        actor: values.actor ?? "",
        target: values.target ?? "",
        kind: values.kind ?? "",
        ...(since !== undefined ? { startTime: timestampFromMs(since) } : {}),
        ...(until !== undefined ? { endTime: timestampFromMs(until) } : {}),
      }),
    );
    events.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && events.length < limit);
  if (asJson) return json({ events: events.map((event) => toJson(AuditEventSchema, event, { alwaysEmitImplicit: true })) });
  return formatTable(
    ["TIME", "KIND", "ACTOR", "TARGET", "PEER", "REQUEST ID", "DETAILS"],
    events.map((event) => [timeText(event.eventTime), event.kind, actorText(event), orDash(event.target), orDash(event.peer), orDash(event.requestId), detailsText(event.details)]),
  );
}
