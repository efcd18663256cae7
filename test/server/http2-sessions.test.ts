import http2, { type ClientHttp2Session, type SecureClientSessionOptions } from "node:http2";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import type { RunningServer } from "../../src/server.js";
import { httpGet, postFrom } from "../support/oauth.js";
import { createTestCertificate, type TestCertificate } from "../support/tls-certificate.js";
import { startTestServer } from "../support/tokensmith.js";

/**
 * Issue 16, item 5: idle HTTP/2 sessions were never closed, so one peer
 * could hold every file descriptor of the process (19,935 idle h2c sessions
 * and /healthz stopped answering). Sessions now close after an idle
 * timeout (GOAWAY, then close), are capped per peer address and in total,
 * and a session that resets streams faster than it completes them gets
 * GOAWAY. Real node:http2 clients, from several loopback source addresses.
 */

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_CANCEL } = http2.constants;

interface ClientSession {
  session: ClientHttp2Session;
  /** Set when the server's first GOAWAY arrives: its error code. */
  goawayCode: number | undefined;
  closed: Promise<void>;
  /** Resolves with the first GOAWAY's error code. */
  goaway: Promise<number>;
}

function connect(url: string, options: { from?: string; ca?: Buffer } = {}): ClientSession {
  const sessionOptions: SecureClientSessionOptions & { localAddress: string } = { localAddress: options.from ?? "127.0.0.1" };
  if (options.ca) sessionOptions.ca = options.ca;
  const session = http2.connect(url, sessionOptions);
  // A refused session may end with a reset socket: that is the point, not a test failure.
  session.on("error", () => undefined);
  const client: ClientSession = {
    session,
    goawayCode: undefined,
    closed: new Promise((resolve) => session.once("close", resolve)),
    goaway: new Promise((resolve) =>
      session.once("goaway", (code: number) => {
        client.goawayCode = code;
        resolve(code);
      }),
    ),
  };
  return client;
}

/**
 * Whether the server kept the session: a GOAWAY or a close first means it
 * did not; two PINGs answered one after the other mean it did. Two, because
 * nghttp2 sends a PING's ACK ahead of frames already queued, so the first
 * answer can overtake the GOAWAY of a refusal; the second cannot (the
 * connection is ordered and the GOAWAY left with or before the first).
 */
function settle(client: ClientSession): Promise<"open" | "refused"> {
  return new Promise((resolve) => {
    void client.goaway.then(() => resolve("refused"));
    void client.closed.then(() => resolve("refused"));
    const ping = () => {
      if (client.session.closed || client.session.destroyed) return;
      client.session.ping((error) => {
        if (error) resolve("refused");
        else if (!client.session.closed && !client.session.destroyed) client.session.ping((again) => resolve(again ? "refused" : "open"));
      });
    };
    if (client.session.connecting) client.session.once("connect", ping);
    else ping();
  });
}

/** One request on the session; resolves its status. */
function get(session: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path });
    let status = 0;
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("error", reject);
    stream.resume();
    stream.on("end", () => resolve(status));
  });
}

async function refusals(server: RunningServer): Promise<Record<string, number>> {
  const { text } = await httpGet(`${server.url}/metrics`);
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^tokensmith_http2_sessions_refused_total\{reason="([a-z_]+)"\} (\d+)$/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}

async function openSessions(server: RunningServer): Promise<number> {
  const { text } = await httpGet(`${server.url}/metrics`);
  return Number(/^tokensmith_http2_sessions (\d+)$/m.exec(text)?.[1]);
}

/** Fails clearly instead of at the test timeout when an awaited event never comes. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// 1,500 sessions opened and refused in one test: slow on a machine busy with the rest of the suite.
describe("HTTP/2 sessions: idle timeout, caps per peer and in total, rapid reset", { timeout: 90_000 }, () => {
  const servers: RunningServer[] = [];
  const clients: ClientSession[] = [];
  let certificate: TestCertificate;
  const start = async (http2Settings: ConfigInput["http2"], extra: Partial<ConfigInput> = {}) => {
    const server = await startTestServer({ config: { ...(http2Settings ? { http2: http2Settings } : {}), ...extra } });
    servers.push(server);
    return server;
  };
  const open = (url: string, options: { from?: string; ca?: Buffer } = {}) => {
    const client = connect(url, options);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    certificate = await createTestCertificate();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.session.destroy();
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });
  afterAll(async () => {
    await certificate?.remove();
  });

  it("refuses thousands of idle h2c sessions from one peer past its cap (default settings), while another client keeps working", async () => {
    const server = await start(undefined);
    const attempts = 1_500;
    const outcomes: Array<"open" | "refused"> = [];
    // In batches, so the listen backlog is never the limit being measured.
    for (let batch = 0; batch < attempts; batch += 250) {
      const settled = Array.from({ length: 250 }, () => settle(open(server.url, { from: "127.0.0.2" })));
      outcomes.push(...(await Promise.all(settled)));
    }
    const kept = outcomes.filter((outcome) => outcome === "open").length;
    expect(kept).toBe(100);
    const refused = clients.filter((client) => client.goawayCode !== undefined);
    expect(refused).toHaveLength(attempts - 100);
    expect(new Set(refused.map((client) => client.goawayCode))).toEqual(new Set([NGHTTP2_ENHANCE_YOUR_CALM]));

    // Another peer is served over HTTP/2 and HTTP/1.1, and so is the attacker's own HTTP/1.1.
    const normal = open(server.url, { from: "127.0.0.3" });
    expect(await get(normal.session, "/healthz")).toBe(200);
    expect((await httpGet(`${server.url}/healthz`)).status).toBe(200);
    expect(await refusals(server)).toMatchObject({ peer_limit: attempts - 100 });
    expect(await openSessions(server)).toBe(101);
  });

  it("caps sessions per peer and in total, counting each refusal by reason, and frees a place when a session ends", async () => {
    const server = await start({ maxSessions: 3, maxSessionsPerPeer: 2 });
    const first = open(server.url, { from: "127.0.0.2" });
    expect(await settle(first)).toBe("open");
    expect(await settle(open(server.url, { from: "127.0.0.2" }))).toBe("open");
    const thirdFromSamePeer = open(server.url, { from: "127.0.0.2" });
    expect(await settle(thirdFromSamePeer)).toBe("refused");
    expect(thirdFromSamePeer.goawayCode).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    expect(await settle(open(server.url, { from: "127.0.0.3" }))).toBe("open");
    const overTotal = open(server.url, { from: "127.0.0.4" });
    expect(await settle(overTotal)).toBe("refused");
    expect(overTotal.goawayCode).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    expect(await refusals(server)).toEqual({ peer_limit: 1, total_limit: 1, rapid_reset: 0, banned: 0 });

    first.session.close();
    await first.closed;
    await vi.waitFor(async () => expect(await openSessions(server)).toBe(2));
    const later = open(server.url, { from: "127.0.0.4" });
    expect(await settle(later)).toBe("open");
    expect(await get(later.session, "/healthz")).toBe(200);
  });

  it("does not cap a trusted proxy per peer (many callers share its address), only in total", async () => {
    const server = await start({ maxSessions: 4, maxSessionsPerPeer: 1 }, { trustProxy: ["127.0.0.5"] });
    const outcomes = [];
    for (let i = 0; i < 5; i += 1) outcomes.push(await settle(open(server.url, { from: "127.0.0.5" })));
    expect(outcomes).toEqual(["open", "open", "open", "open", "refused"]);
    expect(await refusals(server)).toMatchObject({ peer_limit: 0, total_limit: 1 });
  });

  it.each([
    ["h2c", false],
    ["h2 (TLS)", true],
  ])("closes an idle %s session after the idle timeout: GOAWAY (NO_ERROR), then close", async (_case, withTls) => {
    const tls = withTls ? { tls: { certFile: certificate.certFile, keyFile: certificate.keyFile } } : {};
    const server = await start({ idleTimeoutSeconds: 0.3 }, tls);
    const client = open(server.url, withTls ? { ca: certificate.ca } : {});
    expect(await get(client.session, "/healthz")).toBe(200);
    expect(await within(client.goaway, 5_000, "GOAWAY")).toBe(NGHTTP2_NO_ERROR);
    await within(client.closed, 5_000, "close");
  });

  it("does not close a session while a stream is open, however long it takes; idle afterwards, it closes", async () => {
    const server = await start({ idleTimeoutSeconds: 0.3 });
    const busy = open(server.url);
    // A token request whose body is still coming: the stream stays open.
    const stream = busy.session.request({ ":method": "POST", ":path": "/oauth2/token", "content-type": "application/x-www-form-urlencoded" });
    stream.write("grant_type=client_");
    const status = new Promise<number>((resolve) => stream.on("response", (headers) => resolve(Number(headers[":status"]))));
    stream.resume();
    // The PING is answered after the server has read the stream's HEADERS (one ordered connection).
    expect(await settle(busy)).toBe("open");
    // A session opened later, idle, is closed: the busy one has been open longer than the timeout.
    const idle = open(server.url);
    expect(await within(idle.goaway, 5_000, "GOAWAY of the idle session")).toBe(NGHTTP2_NO_ERROR);
    expect(busy.goawayCode).toBeUndefined();
    stream.end("credentials");
    expect(await status).toBe(401);
    expect(await within(busy.goaway, 5_000, "GOAWAY once the stream ended")).toBe(NGHTTP2_NO_ERROR);
  });

  it("sends GOAWAY (ENHANCE_YOUR_CALM) to a session that resets streams faster than it completes them, and keeps serving others", async () => {
    const server = await start({ rapidResetAllowance: 20 });
    expect(await resetUntilGoaway(open(server.url, { from: "127.0.0.2" }))).toBe(NGHTTP2_ENHANCE_YOUR_CALM);

    // A client that cancels now and then but completes more is left alone.
    const normal = open(server.url, { from: "127.0.0.3" });
    for (let i = 0; i < 40; i += 1) {
      expect(await get(normal.session, "/healthz")).toBe(200);
      normal.session.request({ ":path": "/healthz" }).close(NGHTTP2_CANCEL);
    }
    expect(await settle(normal)).toBe("open");
    expect(normal.goawayCode).toBeUndefined();
    expect(await refusals(server)).toMatchObject({ rapid_reset: 1 });
  });

  /** Opens streams and resets each at once until the server sends GOAWAY. */
  async function resetUntilGoaway(attacker: ClientSession): Promise<number> {
    expect(await settle(attacker)).toBe("open");
    for (let i = 0; i < 500 && attacker.goawayCode === undefined && !attacker.session.closed && !attacker.session.destroyed; i += 1) {
      try {
        const stream = attacker.session.request({ ":path": "/healthz" });
        // Each stream fails when the session goes away: expected here.
        stream.on("error", () => undefined);
        stream.close(NGHTTP2_CANCEL);
      } catch {
        break; // the session is going away
      }
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
    }
    return within(attacker.goaway, 5_000, "GOAWAY");
  }

  it("refuses new connections from a peer sent away for rapid reset until its ban ends, and no one else's", async () => {
    const server = await start({ rapidResetAllowance: 20, rapidResetBanSeconds: 1 });
    expect(await resetUntilGoaway(open(server.url, { from: "127.0.0.2" }))).toBe(NGHTTP2_ENHANCE_YOUR_CALM);

    // Its reconnection is cut before any HTTP/2 work: closed, never served (neither HTTP/2 nor HTTP/1.1).
    const back = open(server.url, { from: "127.0.0.2" });
    expect(await settle(back)).toBe("refused");
    expect(back.goawayCode).toBeUndefined();
    await expect(postFrom(`${server.url}/oauth2/token`, "", { from: "127.0.0.2" })).rejects.toThrow();
    expect(await refusals(server)).toMatchObject({ rapid_reset: 1, banned: 2 });

    const other = open(server.url, { from: "127.0.0.3" });
    expect(await get(other.session, "/healthz")).toBe(200);

    await vi.waitFor(async () => expect(await settle(open(server.url, { from: "127.0.0.2" }))).toBe("open"), { timeout: 5_000, interval: 200 });
  });

  it("never bans a trusted proxy (its callers would all be shut out): its session gets GOAWAY, its next one is served", async () => {
    const server = await start({ rapidResetAllowance: 20, rapidResetBanSeconds: 60 }, { trustProxy: ["127.0.0.5"] });
    expect(await resetUntilGoaway(open(server.url, { from: "127.0.0.5" }))).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    const next = open(server.url, { from: "127.0.0.5" });
    expect(await get(next.session, "/healthz")).toBe(200);
    expect(await refusals(server)).toMatchObject({ rapid_reset: 1, banned: 0 });
  });
});
