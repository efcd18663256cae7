import http, { type IncomingMessage } from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { createTestCertificate, type TestCertificate } from "../support/tls-certificate.js";
import { basic, startTestServer, testClient, tokenClient } from "../support/tokensmith.js";

/**
 * One port serves every protocol at the same time: HTTP/1.1 (OAuth facade,
 * JWKS, Connect, gRPC-Web), HTTP/2 (gRPC, Connect), cleartext (h2c with prior
 * knowledge) or TLS (ALPN). Whatever a connection sends, the server survives.
 */

const orders = testClient("orders-service", ["orders:read"]);
const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

interface Answer {
  status: number;
  httpVersion: string;
  body: string;
  alpn?: string | false;
}

function read(res: IncomingMessage): Promise<Answer> {
  // A keep-alive agent takes the socket back at the end: read what was negotiated now.
  const alpn = (res.socket as { alpnProtocol?: string | false }).alpnProtocol;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    res.on("error", reject);
    res.on("end", () =>
      resolve({ status: res.statusCode ?? 0, httpVersion: res.httpVersion, body: Buffer.concat(chunks).toString("utf8"), alpn }),
    );
  });
}

/** GET over HTTP/1.1 with node:http or node:https, on a connection of its own. */
function http1Get(url: string, options: https.RequestOptions = {}): Promise<Answer> {
  const target = new URL(url);
  const module = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = module.get(target, { agent: false, ...options }, (res) => read(res).then(resolve, reject));
    req.on("error", reject);
  });
}

/** GET over HTTP/2 (h2c prior knowledge for http:, ALPN h2 for https:). */
async function http2Get(url: string, options: http2.SecureClientSessionOptions = {}): Promise<Answer> {
  const target = new URL(url);
  const session = http2.connect(target.origin, options);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      session.on("error", reject);
      const stream = session.request({ ":path": target.pathname, ":method": "GET" });
      const chunks: Buffer[] = [];
      let status = 0;
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("end", () =>
        resolve({ status, httpVersion: "2.0", body: Buffer.concat(chunks).toString("utf8"), alpn: session.alpnProtocol }),
      );
      stream.end();
    });
  } finally {
    session.close();
  }
}

/**
 * Opens a raw TCP connection and sends `bytes`. Resolves with what came back
 * and whether the server closed the connection within `withinMs` (if not, the
 * test gives up and closes it itself).
 */
function sendRaw(port: number, bytes: Buffer, withinMs = 5_000): Promise<{ received: Buffer; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let closedByServer = true;
    const giveUp = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, withinMs);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", () => undefined); // a reset is a way of closing, too
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ received: Buffer.concat(chunks), closedByServer });
    });
  });
}

function kids(body: string): string[] {
  return (JSON.parse(body) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
}

describe("cleartext: HTTP/1.1, h2c and gRPC on one port", () => {
  let server: RunningServer;
  let jwksUrl: string;

  beforeAll(async () => {
    server = await startTestServer({ clients: [orders] });
    jwksUrl = `${server.url}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    await server?.close();
  });

  describe("a connection that sends garbage is closed, and the server keeps answering", () => {
    it.each([
      ["a TLS ClientHello on the cleartext port", Buffer.from([0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03])],
      ["binary noise", Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a, 0xde, 0xad, 0xbe, 0xef])],
      ["a malformed HTTP/1.1 request line", Buffer.from("GET\x00/ HTTP/9.9\r\n\r\n")],
      ["a request line without headers' end followed by a NUL", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\x00\r\n\r\n")],
      ["almost the HTTP/2 preface, diverging at the end", Buffer.from(`${H2_PREFACE.slice(0, -2)}XX`)],
      ["the HTTP/2 preface followed by HTTP/1.1 text", Buffer.from(`${H2_PREFACE}GET / HTTP/1.1\r\nHost: x\r\n\r\n`)],
      [
        "the HTTP/2 preface followed by a SETTINGS frame on stream 1 (a protocol error)",
        Buffer.concat([Buffer.from(H2_PREFACE), Buffer.from([0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01])]),
      ],
    ])("%s", async (_case, bytes) => {
      const { closedByServer } = await sendRaw(server.port, bytes);
      expect(closedByServer).toBe(true);
      const after = await http1Get(jwksUrl);
      expect(after.status).toBe(200);
    });

    it("answers garbage that reaches the HTTP/1.1 parser with 400 Bad Request", async () => {
      const { received } = await sendRaw(server.port, Buffer.from("GET\x00/ HTTP/9.9\r\n\r\n"));
      expect(received.toString("latin1")).toMatch(/^HTTP\/1\.1 400 /);
    });

    it("survives a client that resets the connection in the middle of the HTTP/2 preface", async () => {
      await new Promise<void>((resolve) => {
        const socket = netConnect({ host: "127.0.0.1", port: server.port }, () => {
          socket.write(H2_PREFACE.slice(0, 10), () => {
            socket.resetAndDestroy();
            resolve();
          });
        });
      });
      expect((await http2Get(jwksUrl)).status).toBe(200);
      expect((await http1Get(jwksUrl)).status).toBe(200);
    });
  });

  it("serves HTTP/1.1 (fetch and node:http), h2c with prior knowledge and gRPC at the same time", async () => {
    const grpc = tokenClient(createGrpcTransport({ baseUrl: server.url }));
    const [viaFetch, viaHttp1, viaH2c, viaGrpc, tokenViaGrpc] = await Promise.all([
      fetch(jwksUrl).then(async (response) => ({ status: response.status, body: await response.text() })),
      http1Get(jwksUrl),
      http2Get(jwksUrl),
      grpc.getJwks({}),
      grpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) }),
    ]);
    const expectedKids = server.domain.keyRing.publicJwks().map((key) => key.kid);

    expect(viaFetch.status).toBe(200);
    expect(kids(viaFetch.body)).toEqual(expectedKids);
    expect(viaHttp1).toMatchObject({ status: 200, httpVersion: "1.1" });
    expect(kids(viaHttp1.body)).toEqual(expectedKids);
    expect(viaH2c).toMatchObject({ status: 200, alpn: "h2c" });
    expect(kids(viaH2c.body)).toEqual(expectedKids);
    expect(viaGrpc.keys.map((key) => key.kid)).toEqual(expectedKids);
    expect(server.domain.accessTokens.verify(tokenViaGrpc.accessToken).ok).toBe(true);
  });

  it("serves many interleaved HTTP/1.1 and HTTP/2 connections", async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? http1Get(jwksUrl) : http2Get(jwksUrl))));
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    expect(answers.map((answer) => answer.httpVersion)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "1.1" : "2.0")));
  });
});

describe("TLS: ALPN chooses HTTP/2 or HTTP/1.1 on one port", () => {
  let certificate: TestCertificate;
  let ca: Buffer;
  let server: RunningServer;
  let jwksUrl: string;

  beforeAll(async () => {
    certificate = await createTestCertificate();
    ca = certificate.ca;
    server = await startTestServer({ clients: [orders], config: { tls: { certFile: certificate.certFile, keyFile: certificate.keyFile } } });
    jwksUrl = `${server.url}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    await server?.close();
    await certificate?.remove();
  });

  it("announces an https URL and issuer", () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.domain.issuer).toBe(server.url);
  });

  it.each([
    ["ALPN http/1.1", { ALPNProtocols: ["http/1.1"] }, "http/1.1"],
    ["no ALPN at all", {}, false],
  ])("serves HTTP/1.1 over TLS with %s", async (_case, options, alpn) => {
    const answer = await http1Get(jwksUrl, { ca, ...options });
    expect(answer).toMatchObject({ status: 200, httpVersion: "1.1", alpn });
    expect(kids(answer.body)).toEqual(server.domain.keyRing.publicJwks().map((key) => key.kid));
  });

  it("serves HTTP/1.1 to a client that skips certificate verification", async () => {
    expect((await http1Get(jwksUrl, { rejectUnauthorized: false })).status).toBe(200);
  });

  it("serves HTTP/2 negotiated by ALPN h2", async () => {
    const answer = await http2Get(jwksUrl, { ca });
    expect(answer).toMatchObject({ status: 200, alpn: "h2" });
  });

  it("serves gRPC and Connect (HTTP/1.1) over TLS at the same time", async () => {
    const grpc = tokenClient(createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca } }));
    const connect = tokenClient(createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", nodeOptions: { ca } }));
    const [viaGrpc, viaConnect] = await Promise.all([
      grpc.issueClientToken({}, { headers: basic(orders.id, orders.secret) }),
      connect.issueClientToken({}, { headers: basic(orders.id, orders.secret) }),
    ]);
    expect(server.domain.accessTokens.verify(viaGrpc.accessToken).ok).toBe(true);
    expect(server.domain.accessTokens.verify(viaConnect.accessToken).ok).toBe(true);
  });

  it("refuses a client that does not trust the certificate, without harm to the server", async () => {
    await expect(http1Get(jwksUrl)).rejects.toMatchObject({ code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    expect((await http1Get(jwksUrl, { ca })).status).toBe(200);
  });

  it("ends a cleartext HTTP/1.1 exchange on the TLS port (refused or answered, never left hanging), and keeps answering", async () => {
    const request = "GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const { closedByServer } = await sendRaw(server.port, Buffer.from(request));
    expect(closedByServer).toBe(true);
    expect((await http2Get(jwksUrl, { ca })).status).toBe(200);
  });

  it("closes a TLS connection that sends garbage after the handshake, and keeps answering", async () => {
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: "127.0.0.1", port: server.port, ca, ALPNProtocols: ["h2"] }, () => {
        socket.write(Buffer.from("this is not an HTTP/2 preface\r\n\r\n"));
      });
      socket.on("error", () => undefined);
      socket.resume(); // read the server's GOAWAY, so its end of the stream is seen
      socket.on("close", () => resolve());
    });
    expect((await http2Get(jwksUrl, { ca })).status).toBe(200);
  });
});

describe("shutdown", () => {
  /** Makes one request and leaves its connection open and idle; resolves with a function that lets it go. */
  type IdleConnection = (url: string, ca?: Buffer) => Promise<{ closed: Promise<void>; release(): void }>;

  const keepAliveHttp1: IdleConnection = async (url, ca) => {
    const target = new URL(`${url}/.well-known/jwks.json`);
    const agent = target.protocol === "https:" ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true });
    const module = target.protocol === "https:" ? https : http;
    let closed!: Promise<void>;
    await new Promise<void>((resolve, reject) => {
      const req = module.get(target, { agent }, (res) => {
        closed = new Promise((done) => res.socket.once("close", () => done()));
        read(res).then(() => resolve(), reject);
      });
      req.on("error", reject);
    });
    return { closed, release: () => agent.destroy() };
  };

  const idleHttp2: IdleConnection = async (url, ca) => {
    const session = http2.connect(url, ca ? { ca } : {});
    session.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const stream = session.request({ ":path": "/.well-known/jwks.json" });
      stream.on("error", reject);
      stream.resume();
      stream.on("end", () => resolve());
      stream.end();
    });
    return { closed, release: () => session.destroy() };
  };

  let tls: TestCertificate;

  beforeAll(async () => {
    tls = await createTestCertificate();
  });

  afterAll(async () => {
    await tls?.remove();
  });

  it.each([
    ["an idle HTTP/1.1 keep-alive connection (cleartext)", keepAliveHttp1, false],
    ["an idle h2c session", idleHttp2, false],
    ["an idle HTTP/1.1 keep-alive connection (TLS)", keepAliveHttp1, true],
    ["an idle HTTP/2 session (TLS)", idleHttp2, true],
  ])("closes promptly, well within its grace period, while a client holds %s", async (_case, open, withTls) => {
    const server = await startTestServer({
      clients: [orders],
      config: withTls ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } : {},
    });
    const connection = await open(server.url, withTls ? tls.ca : undefined);
    try {
      const started = performance.now();
      await server.close();
      const elapsedMs = performance.now() - started;
      // Idle connections carry no request to wait for: the grace period is for requests in flight.
      expect(elapsedMs).toBeLessThan(1_000);
      await connection.closed;
    } finally {
      connection.release();
    }
  });
});
