import type { Logger } from "pino";
import { parseFeedCursor } from "../store/feed-cursor.js";
import { storeKeys, type FeedEntry, type FeedFields, type Store } from "../store/store.js";
import { invalidRequest } from "./oauth-error.js";
import { containsSecret } from "./secret-format.js";
import { AUDIT_KINDS, type AuditKind } from "./audit-kinds.js";

export { AUDIT_KINDS, type AuditKind } from "./audit-kinds.js";

/** Who acted: a client of a tenant (a platform administrator acting in another tenant is a client of the default). */
export interface AuditActor {
  clientId: string;
  tenant: string;
}

/** One event as its recorder gives it. */
export interface AuditRecord {
  kind: AuditKind;
  /** Absent when Tokensmith acted by itself (scheduled rotation) or no one authenticated (a peer locked out). */
  actor?: AuditActor;
  /** What was acted on: a client id, an API key name, a kid, a tenant id, an issuer, a peer address. */
  target: string;
  peer?: string;
  requestId?: string;
  /** Non-secret facts (the fields an update changed, scopes): never a secret, a hash or a token. */
  details?: Readonly<Record<string, string>>;
}

/** One event as stored and listed. */
export interface AuditEvent {
  /** The stream entry's id: unique and ordered within the tenant's trail. */
  id: string;
  /** When it was recorded (ms since the epoch): the id's time. */
  time: number;
  kind: AuditKind;
  /** The tenant whose trail holds it: the one acted in. */
  tenant: string;
  actorClientId: string;
  actorTenant: string;
  target: string;
  peer: string;
  requestId: string;
  details: Record<string, string>;
}

export interface AuditQuery {
  /** 0: the default; above the maximum: the maximum. */
  pageSize: number;
  pageToken: string;
  actor?: string;
  target?: string;
  kind?: string;
  /** Inclusive bounds, ms since the epoch. */
  sinceMs?: number;
  untilMs?: number;
}

export interface AuditPage {
  /** Newest first. */
  events: AuditEvent[];
  /** Empty when there is nothing older. */
  nextPageToken: string;
}

export const AUDIT_DEFAULT_PAGE_SIZE = 50;
export const AUDIT_MAX_PAGE_SIZE = 500;
/** Entries one list call reads at most while filtering: a filter matching nothing in a long trail answers a partial page with a token to go on from. */
const SCAN_LIMIT = 10_000;
const SCAN_BATCH = 500;

const isKind = (value: string): value is AuditKind => (AUDIT_KINDS as readonly string[]).includes(value);

/**
 * A tenant's audit trail: a stream in the store (`audit:{audit}`, mapped into
 * the tenant's key space) trimmed to the retention on every write, and one
 * log line per event with the same fields.
 *
 * Order: the log line first, then the stream. A recorder calls `record` after
 * its change succeeded; if the store then fails, the call fails (Unavailable)
 * although the change stands — as a change-feed announcement does — and the
 * log line still holds the event. Never silently: no change is acknowledged
 * without its event in the store.
 */
export class AuditTrail {
  constructor(
    private readonly deps: {
      store: Store;
      tenant: string;
      retainMs: number;
      logger: Logger;
    },
  ) {}

  get tenant(): string {
    return this.deps.tenant;
  }

  async record(record: AuditRecord): Promise<AuditEvent> {
    const details = withoutSecrets(record.details ?? {});
    const target = withoutSecret(record.target);
    const fields: FeedFields = {
      kind: record.kind,
      actor_client_id: record.actor?.clientId ?? "",
      actor_tenant: record.actor?.tenant ?? "",
      target,
      peer: record.peer ?? "",
      request_id: record.requestId ?? "",
      details: JSON.stringify(details),
    };
    this.deps.logger.info(
      {
        audit: {
          kind: record.kind,
          tenant: this.deps.tenant,
          actorClientId: fields.actor_client_id,
          actorTenant: fields.actor_tenant,
          target,
          peer: fields.peer,
          details,
        },
        ...(record.requestId !== undefined ? { reqId: record.requestId } : {}),
      },
      "audit event",
    );
    const id = await this.deps.store.streamAppend(storeKeys.audit(), fields, { retainMs: this.deps.retainMs });
    return this.eventOf({ cursor: id, fields })!;
  }

  /** Newest first, a page at a time, filtered; InvalidArgument for a malformed token, an unknown kind, or an end before the start. */
  async list(query: AuditQuery): Promise<AuditPage> {
    if (!Number.isInteger(query.pageSize) || query.pageSize < 0) throw invalidRequest("page_size must not be negative");
    const pageSize = Math.min(query.pageSize === 0 ? AUDIT_DEFAULT_PAGE_SIZE : query.pageSize, AUDIT_MAX_PAGE_SIZE);
    let before: string | undefined;
    if (query.pageToken !== "") {
      before = Buffer.from(query.pageToken, "base64url").toString("utf8");
      if (parseFeedCursor(before) === undefined || Buffer.from(before).toString("base64url") !== query.pageToken) throw invalidRequest("page_token is malformed");
    }
    if (query.kind && !isKind(query.kind)) throw invalidRequest(`kind must be one of ${AUDIT_KINDS.join(", ")}`);
    // A Timestamp past what a Date holds is NaN here: to Redis an invalid stream id, which would read as the store failing.
    if (query.sinceMs !== undefined && !Number.isFinite(query.sinceMs)) throw invalidRequest("start_time is not a valid time");
    if (query.untilMs !== undefined && !Number.isFinite(query.untilMs)) throw invalidRequest("end_time is not a valid time");
    if (query.sinceMs !== undefined && query.untilMs !== undefined && query.untilMs < query.sinceMs) throw invalidRequest("end_time is before start_time");
    const matches = (event: AuditEvent) =>
      (!query.actor || event.actorClientId === query.actor) && (!query.target || event.target === query.target) && (!query.kind || event.kind === query.kind);
    const events: AuditEvent[] = [];
    let scanned = 0;
    for (;;) {
      const batch = await this.deps.store.streamReadBack(storeKeys.audit(), { sinceMs: query.sinceMs, untilMs: query.untilMs, before }, SCAN_BATCH);
      for (const entry of batch) {
        scanned += 1;
        before = entry.cursor;
        const event = this.eventOf(entry);
        if (event === undefined || !matches(event)) continue;
        // One more than the page: whether a next page exists.
        if (events.length === pageSize) return { events, nextPageToken: tokenOf(events[pageSize - 1]!.id) };
        events.push(event);
      }
      if (batch.length < SCAN_BATCH) return { events, nextPageToken: "" };
      if (scanned >= SCAN_LIMIT) return { events, nextPageToken: tokenOf(before!) };
    }
  }

  private eventOf(entry: FeedEntry): AuditEvent | undefined {
    const { fields } = entry;
    const kind = fields.kind ?? "";
    if (!isKind(kind)) return undefined;
    let details: Record<string, string> = {};
    try {
      details = JSON.parse(fields.details ?? "{}") as Record<string, string>;
    } catch {
      // An entry written by hand: listed without details rather than not at all.
    }
    return {
      id: entry.cursor,
      time: parseFeedCursor(entry.cursor)!.ms,
      kind,
      tenant: this.deps.tenant,
      actorClientId: fields.actor_client_id ?? "",
      actorTenant: fields.actor_tenant ?? "",
      target: fields.target ?? "",
      peer: fields.peer ?? "",
      requestId: fields.request_id ?? "",
      details,
    };
  }
}

const tokenOf = (cursor: string) => Buffer.from(cursor).toString("base64url");

/** A last guard: a target or detail holding a secret, an API key, a grant or a stored hash is never written. */
const withoutSecret = (value: string) => (containsSecret(value) ? "[redacted]" : value);

function withoutSecrets(details: Readonly<Record<string, string>>): Record<string, string> {
  const safe: Record<string, string> = {};
  for (const [name, value] of Object.entries(details)) safe[name] = withoutSecret(value);
  return safe;
}
