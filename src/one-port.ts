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

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SNIFF_TIMEOUT_MS = 10_000;

export type NodeRequestListener = (
  req: Parameters<RequestListener>[0] | Http2ServerRequest,
  res: Parameters<RequestListener>[1] | Http2ServerResponse,
) => void;

export interface OnePortServer {
  readonly port: number;
  close(graceMs?: number): Promise<void>;
}

export interface OnePortOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  handler: NodeRequestListener;
}

/**
 * Serves HTTP/1.1 and HTTP/2 on one port. In cleartext, Node cannot do both
 * on one server (`allowHTTP1` works only with TLS), so each new connection is
 * sniffed: the HTTP/2 preface goes to the h2c server, anything else to the
 * HTTP/1.1 server. With TLS, ALPN chooses (h2 or http/1.1).
 */
export async function listenOnePort(options: OnePortOptions): Promise<OnePortServer> {
  const sockets = new Set<Socket>();
  let outer: NetServer | Http2SecureServer;
  let http1: Http1Server | undefined;
  let http2: Http2Server | Http2SecureServer;

  if (options.tls) {
    const secure = createSecureServer({ cert: options.tls.cert, key: options.tls.key, allowHTTP1: true }, options.handler);
    http2 = secure;
    outer = secure;
  } else {
    const h1 = createHttp1Server({ keepAliveTimeout: 65_000 }, options.handler);
    const h2 = createHttp2Server({}, options.handler);
    http1 = h1;
    http2 = h2;
    outer = createNetServer((socket) => routeBySniffing(socket, h1, h2));
  }
  outer.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    outer.once("error", reject);
    outer.listen(options.port, options.host, () => {
      outer.off("error", reject);
      resolve();
    });
  });
  const port = (outer.address() as AddressInfo).port;
  // The HTTP/1.1 server never listens itself (connections are handed to it),
  // but its connection tracking — idle closing, request and header timeouts —
  // starts on "listening".
  http1?.emit("listening");

  const sessions = new Set<Http2Session>();
  http2.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  return {
    port,
    /** Stops accepting, lets in-flight requests finish within `graceMs`, then cuts what is left. */
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => outer.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      // GOAWAY: clients open no new streams; streams in flight complete.
      for (const session of sessions) session.close();
      while (sockets.size > 0 && Date.now() < deadline) {
        http1?.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function routeBySniffing(socket: Socket, http1: Http1Server, http2: Http2Server): void {
  let received: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const onError = () => clearTimeout(timer);
  const onData = (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, H2_PREFACE.length);
    const looksLikeH2 = received.subarray(0, compared).equals(H2_PREFACE.subarray(0, compared));
    if (looksLikeH2 && received.length < H2_PREFACE.length) return; // need the rest of the preface
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("error", onError);
    socket.pause();
    socket.unshift(received);
    if (looksLikeH2) {
      // The HTTP/2 session takes over the socket's handle and first drains
      // what is buffered (the unshifted preface); resuming would race it.
      http2.emit("connection", socket);
    } else {
      http1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", onError);
}

export type AnyHttpServer = Http1Server | Http2Server | Http2SecureServer;
