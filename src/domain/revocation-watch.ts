import { compareFeedCursors, parseFeedCursor } from "../store/feed-cursor.js";
import { requireClientScopes, type CallerAuthenticator } from "./caller.js";
import { isWatchedEvent, type ChangeFeed, type ChangeFeedEntry, type WatchedFeedEvent } from "./change-feed.js";
import type { ClientCredentials } from "./client-authenticator.js";
import type { Clock } from "./clock.js";
import type { FeedFollower } from "./feed-follower.js";
import { INTROSPECT_SCOPE } from "./introspection.js";
import { invalidRequest, OAuthError } from "./oauth-error.js";
import { WatcherInbox } from "./watcher-inbox.js";

const WATCH_SCOPES = [INTROSPECT_SCOPE] as const;
const PAGE = 1_000;
/** The cursor of a snapshot of an empty feed: before every entry, and held by none, so resuming from it gets a snapshot. */
const BEFORE_EVERYTHING = "0-0";

export interface RevocationSnapshot {
  cursor: string;
  /** Revoked access tokens not yet expired; `exp` in seconds since the epoch. */
  revokedTokens: Array<{ jti: string; exp: number }>;
  /** The latest cut-off of each client. */
  clientCutoffs: Array<{ clientId: string; issuedBeforeMs: number }>;
  signingKeyIds: string[];
}

export type WatchMessage =
  | { kind: "snapshot"; snapshot: RevocationSnapshot }
  /** `signingKeyIds`: the published kids when sent (or those the event names), for `signing_keys_changed`. */
  | { kind: "event"; cursor: string; event: WatchedFeedEvent; signingKeyIds: string[] }
  | { kind: "heartbeat"; cursor: string; serverTimeMs: number };

export interface WatchEvents {
  watcherOpened(): void;
  watcherClosed(): void;
  watchMessageSent(kind: WatchMessage["kind"]): void;
}

/**
 * WatchRevocations (issue 18): what a resource server that verifies JWTs
 * locally follows to refuse revoked tokens. A snapshot of every revocation in
 * force unless the watcher's cursor is still held in the feed, then the
 * feed's entries as the instance's one FeedFollower reads them, and a
 * heartbeat every `heartbeatMs` while the feed is being read, so that a
 * watcher that hears nothing knows it may be missing revocations.
 */
export class RevocationWatch {
  /** Set once this tenant's domain is dropped (the tenant changed or was deleted): its streams end, and their watchers reconnect. */
  private retired = false;
  private readonly inboxes = new Set<WatcherInbox>();

  constructor(
    private readonly deps: {
      callers: CallerAuthenticator;
      /** Whose revocations this serves; `feed` is that tenant's view of the deployment's feed. */
      tenant: string;
      feed: ChangeFeed;
      follower: Pick<FeedFollower, "subscribe" | "join" | "readWithin">;
      publishedKids: () => string[];
      clock: Clock;
      heartbeatMs: number;
      events?: WatchEvents;
    },
  ) {}

  /** Authenticates, then streams until `signal` aborts; ends with `unavailable` then, so a watcher reconnects and resumes. */
  async *watch(credentials: ClientCredentials, request: { cursor: string }, signal: AbortSignal): AsyncGenerator<WatchMessage> {
    const caller = await this.deps.callers.authenticate(credentials, WATCH_SCOPES);
    if (caller.kind === "client") requireClientScopes(caller.client, WATCH_SCOPES);
    if (request.cursor !== "" && parseFeedCursor(request.cursor) === undefined) {
      throw invalidRequest("cursor is not one this server sent: send the cursor of the last snapshot, event or heartbeat, or none");
    }
    const inbox = new WatcherInbox();
    this.inboxes.add(inbox);
    const unsubscribe = this.deps.follower.subscribe(inbox);
    const onAbort = () => inbox.wakeUp();
    signal.addEventListener("abort", onAbort);
    this.deps.events?.watcherOpened();
    try {
      let cursor: string;
      if (request.cursor !== "" && (await this.deps.feed.holds(request.cursor))) {
        cursor = request.cursor;
      } else {
        const snapshot = await this.snapshot();
        cursor = snapshot.cursor;
        yield this.sent({ kind: "snapshot", snapshot });
      }
      // Catch up by reading the feed directly until the follower delivers everything after our cursor.
      for (;;) {
        for (;;) {
          const page = await this.deps.feed.read(cursor, PAGE);
          yield* this.sentEvents(page.entries);
          cursor = page.next ?? cursor;
          if (!page.more) break;
        }
        if (this.deps.follower.join(cursor)) break;
      }
      inbox.joined(cursor);
      let heartbeatAt = performance.now() + this.deps.heartbeatMs;
      while (!signal.aborted) {
        if (inbox.ended !== undefined) throw inbox.ended;
        if (this.retired) {
          // What the feed holds for this tenant up to now goes out first (a deletion's empty key list above all), read from the store itself.
          for (;;) {
            const page = await this.deps.feed.read(cursor, PAGE);
            yield* this.sentEvents(page.entries);
            cursor = page.next ?? cursor;
            if (!page.more) break;
          }
          throw new OAuthError("temporarily_unavailable", "unavailable", "this tenant was changed, deleted or unloaded here: reconnect and resume from your cursor");
        }
        for (const entry of inbox.take()) {
          if (compareFeedCursors(entry.cursor, cursor) <= 0) continue;
          // The follower reads every tenant's entries; this stream moves past others' without sending them.
          cursor = entry.cursor;
          if (entry.tenant === this.deps.tenant) yield* this.sentEvents([entry]);
        }
        const untilHeartbeat = heartbeatAt - performance.now();
        if (untilHeartbeat <= 0) {
          heartbeatAt = performance.now() + this.deps.heartbeatMs;
          // Silence while the feed is unreachable is the watcher's cue that it may be stale.
          if (this.deps.follower.readWithin(this.deps.heartbeatMs)) {
            yield this.sent({ kind: "heartbeat", cursor, serverTimeMs: this.deps.clock.now() });
          }
          continue;
        }
        await inbox.wait(untilHeartbeat);
      }
      throw new OAuthError("temporarily_unavailable", "unavailable", "the stream was ended (server shutting down): reconnect and resume from your cursor");
    } finally {
      signal.removeEventListener("abort", onAbort);
      unsubscribe();
      this.inboxes.delete(inbox);
      this.deps.events?.watcherClosed();
    }
  }

  /** Reads the whole feed (it holds only what is still in force) and reduces it to the state as of its last entry. */
  async snapshot(): Promise<RevocationSnapshot> {
    const nowSeconds = this.deps.clock.now() / 1000;
    const revoked = new Map<string, number>();
    const cutoffs = new Map<string, number>();
    let cursor: string | undefined;
    for (;;) {
      const page = await this.deps.feed.read(cursor, PAGE);
      for (const { event } of page.entries) {
        if (event.type === "access_token_revoked" && event.exp > nowSeconds) revoked.set(event.jti, event.exp);
        else if (event.type === "client_tokens_revoked") cutoffs.set(event.clientId, Math.max(event.issuedBeforeMs, cutoffs.get(event.clientId) ?? 0));
      }
      cursor = page.next ?? cursor;
      if (!page.more) break;
    }
    return {
      cursor: cursor ?? BEFORE_EVERYTHING,
      revokedTokens: [...revoked].map(([jti, exp]) => ({ jti, exp })),
      clientCutoffs: [...cutoffs].map(([clientId, issuedBeforeMs]) => ({ clientId, issuedBeforeMs })),
      signingKeyIds: this.deps.publishedKids(),
    };
  }

  /** Whether a stream of this tenant is open here: its tenant is then kept loaded (see TenantDomains). */
  get watching(): boolean {
    return this.inboxes.size > 0;
  }

  /**
   * Ends every open stream of this tenant once it has sent what the feed
   * holds for it: its domain was dropped (the tenant was updated or deleted,
   * or pushed out of the instance's tenant cache),
   * so its key ring is no longer kept current. Watchers reconnect with their
   * cursor, to the tenant as it is now, or are refused if it is gone.
   */
  retire(): void {
    this.retired = true;
    for (const inbox of this.inboxes) inbox.wakeUp();
  }

  /** The watch messages of `entries`: the instances' own bookkeeping (tenant_changed) is not sent. */
  private *sentEvents(entries: readonly ChangeFeedEntry[]): Generator<WatchMessage> {
    for (const { cursor, event } of entries) {
      if (!isWatchedEvent(event)) continue;
      const signingKeyIds = event.type === "signing_keys_changed" ? [...(event.signingKeyIds ?? this.deps.publishedKids())] : [];
      yield this.sent({ kind: "event", cursor, event, signingKeyIds });
    }
  }

  private sent(message: WatchMessage): WatchMessage {
    this.deps.events?.watchMessageSent(message.kind);
    return message;
  }
}
