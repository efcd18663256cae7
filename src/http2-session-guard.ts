import { constants, type Http2Session, type ServerHttp2Stream } from "node:http2";

export interface Http2SessionLimits {
  /** A session with no open stream for this long gets GOAWAY and is closed. */
  idleTimeoutSeconds: number;
  maxSessions: number;
  maxSessionsPerPeer: number;
  /** Streams a session may reset beyond those it completed before it gets GOAWAY. */
  rapidResetAllowance: number;
  /** A peer sent away for rapid reset has its new connections closed unread for this long (0: never). */
  rapidResetBanSeconds: number;
}

/** Why a session, or a connection before it became one (`banned`), was refused. */
export type SessionRefusal = "total_limit" | "peer_limit" | "rapid_reset" | "banned";

export const SESSION_REFUSALS: readonly SessionRefusal[] = ["total_limit", "peer_limit", "rapid_reset", "banned"];

/** Peers banned at once, at most: past it the oldest ban ends early (the map must not be the next thing an attacker fills). */
const MAX_BANNED_PEERS = 10_000;

export interface Http2SessionGuardOptions {
  limits: Http2SessionLimits;
  /** Peers capped in total only: a trusted proxy carries many callers' sessions. */
  exemptFromPeerLimit?: (address: string) => boolean;
  onRefused?: (reason: SessionRefusal) => void;
}

/**
 * Keeps HTTP/2 sessions from holding the process's file descriptors: before
 * this, an idle session lived forever and one peer opened ~20,000 of them
 * (issue 16). A session is idle when it has no open stream: one carrying a
 * long-lived stream (WatchRevocations) never is, and frames that carry no
 * request (PING, SETTINGS) do not keep one alive.
 *
 * The work is per session (a count, a timer re-armed at most once per
 * timeout); per stream there is one `close` listener and two counters.
 */
export class Http2SessionGuard {
  private total = 0;
  private readonly perPeer = new Map<string, number>();
  /** Peer address → when its ban ends (performance.now()), in the order the bans began. */
  private readonly banned = new Map<string, number>();
  private readonly idleMs: number;

  constructor(private readonly options: Http2SessionGuardOptions) {
    this.idleMs = options.limits.idleTimeoutSeconds * 1000;
  }

  /**
   * Whether a new connection from `address` is to be closed before anything
   * is read from it. A rapid-reset attacker sent away with GOAWAY reconnects
   * at once, and each new session costs the server a handshake and another
   * allowance of resets: measured with 120 such sessions (bench --rapid-reset),
   * the GOAWAY alone left other clients' p99 worse than no defence at all.
   * Call it for every accepted socket; counted as a `banned` refusal.
   */
  refusesConnection(address: string | undefined): boolean {
    if (this.banned.size === 0 || address === undefined) return false;
    const until = this.banned.get(address);
    if (until === undefined) return false;
    if (performance.now() >= until) {
      this.banned.delete(address);
      return false;
    }
    this.options.onRefused?.("banned");
    return true;
  }

  private ban(peer: string): void {
    const banMs = this.options.limits.rapidResetBanSeconds * 1000;
    // A trusted proxy carries everyone's connections: its attacker's session is sent away, the proxy is not banned.
    if (banMs <= 0 || this.options.exemptFromPeerLimit?.(peer)) return;
    this.banned.delete(peer);
    this.banned.set(peer, performance.now() + banMs);
    if (this.banned.size > MAX_BANNED_PEERS) this.banned.delete(this.banned.keys().next().value as string);
  }

  /** Sessions open now. */
  get open(): number {
    return this.total;
  }

  /**
   * Takes a new session in (true), or refuses it with GOAWAY
   * ENHANCE_YOUR_CALM (false). Call it from the server's "session" event.
   */
  admit(session: Http2Session): boolean {
    const { limits, exemptFromPeerLimit } = this.options;
    const peer = session.socket?.remoteAddress ?? "";
    const fromPeer = this.perPeer.get(peer) ?? 0;
    const refusal: SessionRefusal | undefined =
      this.total >= limits.maxSessions
        ? "total_limit"
        : fromPeer >= limits.maxSessionsPerPeer && !exemptFromPeerLimit?.(peer)
          ? "peer_limit"
          : undefined;
    if (refusal !== undefined) {
      this.refuse(session, refusal);
      return false;
    }
    this.total += 1;
    this.perPeer.set(peer, fromPeer + 1);
    this.watch(session, peer);
    session.once("close", () => {
      this.total -= 1;
      const left = (this.perPeer.get(peer) ?? 1) - 1;
      if (left === 0) this.perPeer.delete(peer);
      else this.perPeer.set(peer, left);
    });
    return true;
  }

  private refuse(session: Http2Session, reason: SessionRefusal): void {
    if (session.destroyed || session.closed) return;
    this.options.onRefused?.(reason);
    // The GOAWAY is queued now, ahead of any answer to what the client sends
    // next. The session is destroyed a turn later: on the next tick Node feeds
    // a new session the bytes read before it existed (the preface), which
    // throws if it is already destroyed (Node 20, http2 core setupHandle).
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    setImmediate(() => session.destroy());
  }

  /** Idle closing and the rapid-reset budget of one session. */
  private watch(session: Http2Session, peer: string): void {
    const idleMs = this.idleMs;
    const allowance = this.options.limits.rapidResetAllowance;
    let openStreams = 0;
    let idleSince = performance.now();
    let resetBudget = allowance;
    const checkIdle = () => {
      if (session.closed || session.destroyed) return;
      const idleFor = openStreams === 0 ? performance.now() - idleSince : 0;
      if (idleFor >= idleMs) {
        // GOAWAY (NO_ERROR, the last stream processed), as Go's net/http2 does
        // on its idle timeout; the client opens a new session for its next call.
        session.close();
        return;
      }
      timer = setTimeout(checkIdle, idleMs - idleFor);
      timer.unref();
    };
    let timer = setTimeout(checkIdle, idleMs);
    timer.unref();
    session.once("close", () => clearTimeout(timer));
    session.on("stream", (stream: ServerHttp2Stream) => {
      openStreams += 1;
      stream.once("close", () => {
        openStreams -= 1;
        if (openStreams === 0) idleSince = performance.now();
        if (stream.rstCode === constants.NGHTTP2_NO_ERROR) {
          if (resetBudget < allowance) resetBudget += 1;
        } else if (--resetBudget === -1) {
          // A stream the server reset itself (a handler that failed) counts too: rare, and bounded the same way.
          // Once: the GOAWAY is sent now, the destroy comes a turn later.
          this.refuse(session, "rapid_reset");
          this.ban(peer);
        }
      });
    });
  }
}

