import { execFile } from "node:child_process";
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { RunningServer } from "../../src/server.js";
import { startTestServer, testClient } from "../support/tokensmith.js";
import { startClockServer, type ClockServer } from "./support/clock-service.js";
import { REQUIRED_SERVICES, servedServices } from "./support/served-services.js";

/**
 * `buf curl` (the Go binary shipped in the @bufbuild/buf npm package) as an
 * operator would use it: no .proto on its side, the schema comes from server
 * reflection.
 */

const buf = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;
const orders = testClient("orders-service", ["orders:read", "orders:write"], { secret: "orders-secret" });
const resourceServer = testClient("resource-server", ["token:introspect"]);
const basic = (id: string, secret: string) => `authorization: Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function bufCurl(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(buf, ["curl", ...args], { timeout: 30_000, env: { ...process.env, BUF_LOG_FORMAT: "text" } }, (error, stdout, stderr) => {
      const exitCode = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ exitCode, stdout, stderr });
    });
  });
}

async function bufCurlJson(args: string[]): Promise<Record<string, unknown>> {
  const run = await bufCurl(args);
  expect(run.stderr, `buf curl ${args.join(" ")}`).toBe("");
  expect(run.exitCode).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

let server: RunningServer;
let clocks: ClockServer;

beforeAll(async () => {
  server = await startTestServer({ clients: [orders, resourceServer] });
  clocks = await startClockServer();
});

afterAll(async () => {
  await server?.close();
  await clocks?.close();
});

describe.each(["grpc-v1", "grpc-v1alpha"])("buf curl --reflect-protocol %s", (reflectProtocol) => {
  it("--list-services: every service", async () => {
    const run = await bufCurl(["--http2-prior-knowledge", "--reflect-protocol", reflectProtocol, "--list-services", server.url]);
    expect(run.exitCode).toBe(0);
    const listed = run.stdout.trim().split("\n");
    expect(listed).toEqual(servedServices(server.domain));
    expect(listed).toEqual(expect.arrayContaining(REQUIRED_SERVICES));
  });

  it("--list-methods: every TokenService RPC", async () => {
    const run = await bufCurl(["--http2-prior-knowledge", "--reflect-protocol", reflectProtocol, "--list-methods", server.url]);
    expect(run.stdout).toContain("tokensmith.v1.TokenService/IssueClientToken\n");
    expect(run.stdout).toContain("tokensmith.v1.TokenService/GetJwks\n");
    expect(run.stdout).toContain("grpc.health.v1.Health/Watch\n");
  });
});

describe.each(["grpc", "connect", "grpcweb"])("buf curl --protocol %s, schema from reflection", (protocol) => {
  const rpc = (method: string) => `${server.url}/tokensmith.v1.TokenService/${method}`;
  const flags = ["--http2-prior-knowledge", "--protocol", protocol];

  it("IssueClientToken with Basic credentials, then Introspect of that token", async () => {
    const issued = await bufCurlJson([...flags, "-H", basic(orders.id, orders.secret), "-d", '{"scopes":["orders:read"]}', rpc("IssueClientToken")]);
    expect(issued).toMatchObject({ tokenType: "Bearer", expiresIn: "3600", scopes: ["orders:read"] });

    const introspection = await bufCurlJson([
      ...flags,
      "-H",
      basic(resourceServer.id, resourceServer.secret),
      "-d",
      JSON.stringify({ token: issued.accessToken }),
      rpc("Introspect"),
    ]);
    expect(introspection).toMatchObject({ active: true, clientId: orders.id, sub: orders.id, scopes: ["orders:read"], tokenType: "Bearer", tokenUse: "access_token" });
  });

  it("-u id:secret works as well as an authorization header", async () => {
    const issued = await bufCurlJson([...flags, "-u", `${orders.id}:${orders.secret}`, rpc("IssueClientToken")]);
    expect(issued.scopes).toEqual(["orders:read", "orders:write"]);
  });

  it("a wrong secret: exit code 16<<3 (Unauthenticated), the OAuthErrorDetail says invalid_client", async () => {
    const run = await bufCurl([...flags, "-H", basic(orders.id, "wrong"), rpc("IssueClientToken")]);
    expect(run.exitCode).toBe(16 << 3);
    const error = JSON.parse(run.stderr) as { code: string; message: string; details: { type: string; value: string }[] };
    expect(error).toMatchObject({ code: "unauthenticated", message: "client authentication failed" });
    expect(error.details.map((detail) => detail.type)).toEqual(["tokensmith.v1.OAuthErrorDetail"]);
    const detail = fromBinary(OAuthErrorDetailSchema, Buffer.from(error.details[0]!.value, "base64"));
    expect(detail.error).toBe("invalid_client");
  });

  it("grpc.health.v1.Health/Check", async () => {
    expect(await bufCurlJson([...flags, "-d", '{"service":"tokensmith.v1.TokenService"}', `${server.url}/grpc.health.v1.Health/Check`])).toEqual({
      status: "SERVING",
    });
  });
});

it("a method whose messages come from imported files (Timestamp, Duration) works from reflection alone", async () => {
  const moment = await bufCurlJson([
    "--protocol",
    "grpc",
    "-d",
    '{"from":{"at":"2026-01-01T00:00:00Z"},"plus":"90s"}',
    `${clocks.url}/acme.clock.v1.ClockService/Add`,
  ]);
  expect(moment).toEqual({ at: "2026-01-01T00:01:30Z" });
});
