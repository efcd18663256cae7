/**
 * A client that hangs up in the middle of its request body (Content-Length
 * promises more than arrives) is not a server error: no error-level log line,
 * no metric of a response that was never sent, and the server keeps serving.
 * Real sockets against a real server, for the OAuth endpoints and for the
 * Connect unary fast path.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readRequestBody } from "../../src/edge/request-body.js";
import type { RunningServer } from "../../src/server.js";
import { basic, startTestServer, testClient } from "../support/tokensmith.js";

const client = testClient("gone-client", ["orders:read"]);
const lines: Array<{ level: number; msg: string }> = [];
let server: RunningServer;

beforeAll(async () => {
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  server = await startTestServer({ clients: [client], logger });
});

afterAll(async () => {
  await server?.close();
});

/** Sends the head and part of the body, then closes the socket; resolves once the server saw the close. */
function sendHalfABody(path: string, contentType: string, headers: Record<string, string> = {}, hangUp: "after 50 ms" | "at once" = "after 50 ms"): Promise<void> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port: Number(port) }, () => {
      const head = [
        `POST ${path} HTTP/1.1`,
        "Host: 127.0.0.1",
        `Content-Type: ${contentType}`,
        "Content-Length: 1000",
        ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
        "",
        "",
      ].join("\r\n");
      // "at once": the close can arrive in the same read as the request, before its handler ran.
      if (hangUp === "at once") socket.end(head + "grant_type=client_cre", () => socket.destroy());
      else socket.write(head + "grant_type=client_cre", () => setTimeout(() => socket.destroy(), 50));
    });
    socket.on("error", reject);
    socket.on("close", () => setTimeout(resolve, 100));
  });
}

describe("a client that hangs up mid-body", () => {
  it.each([
    ["POST /oauth2/token", "/oauth2/token", "application/x-www-form-urlencoded"],
    ["Connect unary (JSON)", "/tokensmith.v1.TokenService/IssueClientToken", "application/json"],
  ])("%s: no error logged, and the next request is served", async (_label, path, contentType) => {
    lines.length = 0;
    await sendHalfABody(path, contentType, basic(client.id, client.secret));
    await expectCleanAndServing(path);
  });

  it.each([
    ["POST /oauth2/token", "/oauth2/token", "application/x-www-form-urlencoded"],
    ["Connect unary (JSON)", "/tokensmith.v1.TokenService/IssueClientToken", "application/json"],
  ])("%s: a client gone before its request was handled is noticed, not waited for", async (_label, path, contentType) => {
    for (let round = 0; round < 20; round++) {
      lines.length = 0;
      await sendHalfABody(path, contentType, basic(client.id, client.secret), "at once");
      await expectCleanAndServing(path);
    }
  });
});

describe("an HTTP/2 client that cancels its stream mid-body", () => {
  it.each([
    ["Connect unary (JSON)", "application/json"],
    ["gRPC", "application/grpc"],
  ])("%s: no error logged, and the next request is served", async (_label, contentType) => {
    const path = "/tokensmith.v1.TokenService/IssueClientToken";
    for (let round = 0; round < 10; round++) {
      lines.length = 0;
      const session = http2.connect(server.url);
      const stream = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": contentType,
        "content-length": "1000",
        ...basic(client.id, client.secret),
      });
      stream.on("error", () => {});
      stream.write(Buffer.from("{\"scopes\": ["));
      // Cancelled at once: the reset can arrive in the same read as the request, before its handler ran.
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => stream.once("close", resolve));
      session.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await expectCleanAndServing(path);
    }
  });
});

async function expectCleanAndServing(path: string): Promise<void> {
  // The server notices the hang-up when it next reads the socket: on a busy machine, after the client has seen its close.
  if (path === "/oauth2/token") {
    await vi.waitFor(() => expect(lines.map((line) => line.msg)).toContain("client closed the connection mid-request"), { timeout: 5_000, interval: 10 });
  }
  const errors = lines.filter((line) => line.level >= 50);
  expect(errors, JSON.stringify(errors)).toEqual([]);

  const response = await fetch(`${server.url}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...basic(client.id, client.secret) },
    body: "grant_type=client_credentials",
  });
  expect(response.status).toBe(200);

  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).not.toMatch(/tokensmith_requests_total\{[^}]*code="(5\d\d|Internal|Unknown)"/);
}

describe("readRequestBody on a request whose client is already gone", () => {
  it("rejects at once instead of waiting for events that were emitted before it was called", async () => {
    const outcome = new Promise<string>((resolve) => {
      const plain = http.createServer((req) => {
        // Read only once the client has hung up and the request is destroyed.
        req.once("close", () => {
          const timeout = setTimeout(() => resolve("still waiting after 1 s"), 1000);
          readRequestBody(req, 1024, () => new Error("too large")).then(
            () => resolve("resolved"),
            (error: Error) => {
              clearTimeout(timeout);
              resolve(`rejected: ${error.message}`);
            },
          );
        });
      });
      plain.listen(0, "127.0.0.1", () => {
        const { port } = plain.address() as net.AddressInfo;
        const socket = net.connect({ host: "127.0.0.1", port }, () => {
          socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf", () => setTimeout(() => socket.destroy(), 50));
        });
        socket.on("close", () => setTimeout(() => plain.close(), 1500));
      });
    });
    expect(await outcome).toMatch(/^rejected: aborted/);
  });
});
