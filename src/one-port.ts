import { createServer as createHttp1Server, type RequestListener, type Server as Http1Server } from "node:http";
import {
  createSecureServer,
  createServer as createHttp2Server,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { Http2SessionGuard, type Http2SessionGuardOptions } from "./http2-session-guard.js";
import { handleAtTurnEnd } from "./http/turn-dispatch.js";

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SNIFF_TIMEOUT_MS = 10_000;

export type NodeRequestListener = (
  req: Parameters<RequestListener>[0] | Http2ServerRequest,
  res: Parameters<RequestListener>[1] | Http2ServerResponse,
) => void;

export interface OnePortServer {
  readonly port: number;
  /** HTTP/2 sessions open now (h2c and h2). */
  readonly http2Sessions: number;
  close(graceMs?: number): Promise<void>;
}

export interface OnePortOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  handler: NodeRequestListener;
  /** Idle timeout, caps and rapid-reset defence of HTTP/2 sessions. */
  http2Sessions: Http2SessionGuardOptions;
}

/**
 * Serves HTTP/1.1 and HTTP/2 on one port, in cleartext and (when a
 * certificate is configured) TLS. Node cannot serve both HTTP versions in
 * cleartext on one server (`allowHTTP1` works only with TLS), so each new
 * connection is sniffed: a TLS handshake (first byte 0x16) goes to the TLS
 * server, where ALPN chooses h2 or http/1.1; the HTTP/2 preface goes to the
 * h2c server; anything else to the HTTP/1.1 server. Whether cleartext
 * requests are answered is the request handler's decision (requireTls).
 */
export async function listenOnePort(options: OnePortOptions): Promise<OnePortServer> {
  const sockets = new Set<Socket>();
  // Requests are handled at the end of the turn that read them (turn-dispatch.ts).
  const handler = handleAtTurnEnd(options.handler);
  const http1 = createHttp1Server({ keepAliveTimeout: 65_000 }, handler as RequestListener);
  const h2c = createHttp2Server({}, handler);
  const secure = options.tls ? createSecureServer({ cert: options.tls.cert, key: options.tls.key, allowHTTP1: true }, handler) : undefined;
  // noDelay: responses leave in several writes (headers, body, trailers); Nagle would hold them for the peer's delayed ACK.
  const guard = new Http2SessionGuard(options.http2Sessions);
  const outer: NetServer = createNetServer({ noDelay: true }, (socket) => {
    if (guard.refusesConnection(socket.remoteAddress)) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    routeBySniffing(socket, { http1, h2c, secure });
  });

  await new Promise<void>((resolve, reject) => {
    outer.once("error", reject);
    outer.listen(options.port, options.host, () => {
      outer.off("error", reject);
      resolve();
    });
  });
  const port = (outer.address() as AddressInfo).port;
  // The inner servers never listen themselves (connections are handed to
  // them), but HTTP/1.1 connection tracking — idle closing, request and
  // header timeouts — starts on "listening".
  http1.emit("listening");
  secure?.emit("listening");

  const sessions = new Set<Http2Session>();
  for (const server of [h2c, secure]) {
    server?.on("session", (session: Http2Session) => {
      if (!guard.admit(session)) return;
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
    });
  }

  return {
    port,
    get http2Sessions() {
      return guard.open;
    },
    /** Stops accepting, lets in-flight requests finish within `graceMs`, then cuts what is left. */
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => outer.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      // GOAWAY: clients open no new streams; streams in flight complete.
      for (const session of sessions) session.close();
      while (sockets.size > 0 && Date.now() < deadline) {
        http1.closeIdleConnections();
        // HTTP/1.1 over TLS belongs to the secure server (allowHTTP1); it has the method, its typings do not.
        (secure as unknown as { closeIdleConnections?: () => void } | undefined)?.closeIdleConnections?.();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

const TLS_HANDSHAKE = 0x16;

interface InnerServers {
  http1: Http1Server;
  h2c: Http2Server;
  secure: Http2SecureServer | undefined;
}

function routeBySniffing(socket: Socket, servers: InnerServers): void {
  let received: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const onError = () => clearTimeout(timer);
  const onData = (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const isTls = servers.secure !== undefined && received[0] === TLS_HANDSHAKE;
    const compared = Math.min(received.length, H2_PREFACE.length);
    const looksLikeH2 = !isTls && received.subarray(0, compared).equals(H2_PREFACE.subarray(0, compared));
    if (looksLikeH2 && received.length < H2_PREFACE.length) return; // need the rest of the preface
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("error", onError);
    socket.pause();
    socket.unshift(received);
    if (isTls || looksLikeH2) {
      // The TLS socket and the HTTP/2 session take over the socket and first
      // drain what is buffered (the unshifted bytes); resuming would race them.
      (isTls ? servers.secure! : servers.h2c).emit("connection", socket);
    } else {
      servers.http1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", onError);
}
