import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

const busy = testClient("busy-resource-server", ["token:introspect"]);
const calm = testClient("calm-resource-server", ["token:introspect"]);

describe("introspection is rate-limited per caller", () => {
  const clock = new ManualClock(Date.now());
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({
      clients: [busy, calm],
      clock,
      config: { rateLimits: { failuresPerPeer: 1000, failuresPerSubjectAndPeer: 1000, windowSeconds: 60, introspectionsPerSecond: 3 } },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("past its burst a caller gets ResourceExhausted with Retry-After, others do not, and the bucket refills", async () => {
    const rpc = tokenClient(transports["grpc (HTTP/2)"](server.url));
    const asBusy = { headers: basic(busy.id, busy.secret) };
    for (let i = 0; i < 6; i += 1) expect((await rpc.introspect({ token: "x" }, asBusy)).active).toBe(false);
    const error = await expectRpcError(rpc.introspect({ token: "x" }, asBusy), Code.ResourceExhausted, "slow_down");
    expect(error.metadata.get("retry-after")).toBe("1");
    expect((await rpc.introspect({ token: "x" }, { headers: basic(calm.id, calm.secret) })).active).toBe(false);
    const http = await fetch(`${server.url}/oauth2/introspect`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...basic(busy.id, busy.secret) },
      body: "token=x",
    });
    expect(http.status).toBe(429);
    expect(await http.json()).toMatchObject({ error: "slow_down" });
    clock.advance(1_000);
    for (let i = 0; i < 3; i += 1) expect((await rpc.introspect({ token: "x" }, asBusy)).active).toBe(false);
    await expectRpcError(rpc.introspect({ token: "x" }, asBusy), Code.ResourceExhausted, "slow_down");
    expect(await server.domain.metrics.registry.metrics()).toMatch(/tokensmith_rate_limited_total\{kind="caller"\} [1-9]/);
  });
});
