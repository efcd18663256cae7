import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import type { RunningServer } from "../../src/server.js";
import { startTestServer } from "../support/tokensmith.js";

describe("scheduled signing-key rotation", () => {
  const clock = new ManualClock(Date.now());
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({
      clock,
      config: { signingKeys: { rotateEveryDays: 30, publishDelaySeconds: 120, refreshSeconds: 1 } },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("adds a key by itself once the signing key is older than the schedule, published before it signs", async () => {
    const first = server.domain.keyRing.active().kid;
    clock.advance(29 * 86_400_000);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(server.domain.keyRing.publicJwks()).toHaveLength(1);
    clock.advance(2 * 86_400_000);
    const deadline = Date.now() + 5_000;
    while (server.domain.keyRing.publicJwks().length < 2) {
      if (Date.now() > deadline) throw new Error("no scheduled rotation");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(server.domain.keyRing.active().kid).toBe(first);
    // In the audit trail (issue 21): Tokensmith acted by itself, so no actor.
    const added = server.domain.keyRing.publicJwks().find((key) => key.kid !== first)!.kid;
    const { events } = await server.domain.audit.list({ pageSize: 10, pageToken: "", kind: "signing_key.rotated" });
    expect(events).toEqual([expect.objectContaining({ target: added, actorClientId: "", actorTenant: "", details: { alg: "EdDSA", scheduled: "true" } })]);
    clock.advance(121_000);
    expect(server.domain.keyRing.active().kid).not.toBe(first);
  });
});
