import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TokenService, type WatchRevocationsResponse } from "../../gen/tokensmith/v1/token_service_pb.js";
import { redisBackend } from "../support/backends.js";
import { ADMIN_SCOPE, BACKENDS, bearer, decodeJwt, startAdminServer, type AdminTestServer } from "../support/admin.js";
import { compareFeedCursors } from "../../src/store/feed-cursor.js";
import { eventually } from "../support/eventually.js";
import { expectRpcError } from "../support/rpc-assertions.js";
import { basic, testClient, transports, type TransportName } from "../support/tokensmith.js";

/**
 * TokenService WatchRevocations (issue 18 item 4): a snapshot of every
 * revocation in force, then live events with cursors and heartbeats; a held
 * cursor resumes without a snapshot, any other gets one. Over every transport,
 * on memory and Redis.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const watcher = testClient("resource-server", ["token:introspect"]);
const holder = testClient("orders", ["orders:read"]);

type Message = WatchRevocationsResponse["message"];

/** Every stream a test opened, cancelled after it even when it failed midway. */
const open = new Set<AbortController>();
afterEach(() => {
  for (const controller of open) controller.abort();
  open.clear();
});

/** A watch stream read one message at a time; `stop()` cancels it. */
function openWatch(t: AdminTestServer, transport: TransportName, cursor = "", headers = basic(watcher.id, watcher.secret)) {
  const controller = new AbortController();
  open.add(controller);
  const client = createClient(TokenService, transports[transport](t.server.url));
  const stream = client.watchRevocations({ cursor }, { headers, signal: controller.signal })[Symbol.asyncIterator]();
  return {
    async next(): Promise<Message> {
      const result = await stream.next();
      if (result.done) throw new Error("the stream ended");
      return result.value.message;
    },
    /** The next snapshot or event: heartbeats are skipped. */
    async nextChange(): Promise<Message> {
      for (;;) {
        const message = await this.next();
        if (message.case !== "heartbeat") return message;
      }
    },
    stop: () => controller.abort(),
  };
}

describe.each(BACKENDS)("TokenService WatchRevocations on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  let t: AdminTestServer;

  beforeAll(async () => {
    await backend.start();
    t = await startAdminServer(backend, { admin, clients: [watcher, holder], config: { watchHeartbeatSeconds: 0.05 } });
  });
  afterAll(async () => {
    await t?.close();
    await backend.stop();
  });

  const issued = async () => (await t.tokens.issueClientToken({}, { headers: basic(holder.id, holder.secret) })).accessToken;
  const revoked = async () => {
    const token = await issued();
    await t.tokens.revoke({ token }, { headers: basic(holder.id, holder.secret) });
    const { jti, exp } = decodeJwt(token).payload as { jti: string; exp: number };
    return { jti, exp };
  };
  const publishedKids = async () => (await t.tokens.getJwks({})).keys.map((key) => key.kid).sort();

  describe.each(Object.keys(transports) as TransportName[])("over %s", (transport) => {
    it("starts with a snapshot of the revocations in force, then sends each new one live on the same stream", async () => {
      const before = await revoked();
      const watch = openWatch(t, transport);
      const snapshot = await watch.nextChange();
      expect(snapshot.case).toBe("snapshot");
      if (snapshot.case !== "snapshot") return;
      expect(snapshot.value.cursor).toMatch(/^\d+-\d+$/);
      expect(snapshot.value.revokedTokens.map(({ jti, exp }) => ({ jti, exp: Number(exp) }))).toContainEqual(before);
      expect([...snapshot.value.signingKeyIds].sort()).toEqual(await publishedKids());

      const live = await revoked();
      const event = await watch.nextChange();
      expect(event.case).toBe("event");
      if (event.case !== "event") return;
      expect(event.value.kind).toEqual({ case: "accessTokenRevoked", value: expect.objectContaining({ jti: live.jti, exp: BigInt(live.exp) }) });
      expect(compareFeedCursors(event.value.cursor, snapshot.value.cursor)).toBeGreaterThan(0);

      const { revokeTime } = await t.admin.revokeClientTokens({ id: holder.id });
      // The clock is frozen: later tokens of the holder must be issued after the cut-off.
      t.clock.advance(1);
      const cutoff = await watch.nextChange();
      expect(cutoff.case === "event" && cutoff.value.kind.case).toBe("clientTokensRevoked");
      if (cutoff.case !== "event" || cutoff.value.kind.case !== "clientTokensRevoked") return;
      expect(cutoff.value.kind.value.clientId).toBe(holder.id);
      // Exclusive, and covering every token issued up to the call: within a millisecond after it.
      const issuedBeforeMs = Number(cutoff.value.kind.value.issuedBeforeMs);
      expect(issuedBeforeMs - timestampMs(revokeTime!)).toBeOneOf([0, 1]);

      // A fresh snapshot now carries the client's cut-off too.
      const again = openWatch(t, transport);
      const fresh = await again.nextChange();
      expect(fresh.case === "snapshot" && fresh.value.clientCutoffs.map((c) => [c.clientId, Number(c.issuedBeforeMs)])).toContainEqual([
        holder.id,
        issuedBeforeMs,
      ]);
    });

    it("resuming with a cursor still held sends only what was missed, with no snapshot", async () => {
      const first = openWatch(t, transport);
      const snapshot = await first.nextChange();
      first.stop();
      const cursor = snapshot.case === "snapshot" ? snapshot.value.cursor : "";
      const missed = [await revoked(), await revoked()];

      const resumed = openWatch(t, transport, cursor);
      const received = [await resumed.nextChange(), await resumed.nextChange()];
      expect(received.map((m) => m.case)).toEqual(["event", "event"]);
      expect(received.map((m) => (m.case === "event" && m.value.kind.case === "accessTokenRevoked" ? m.value.kind.value.jti : undefined))).toEqual(
        missed.map((r) => r.jti),
      );
      // Then it is live: the next one arrives on the same stream.
      const live = await revoked();
      const next = await resumed.nextChange();
      expect(next.case === "event" && next.value.kind.case === "accessTokenRevoked" && next.value.kind.value.jti).toBe(live.jti);
      resumed.stop();
    });

    it("a cursor the feed does not hold (trimmed, unknown or from the future) gets a snapshot; a malformed one is InvalidArgument", async () => {
      await revoked();
      for (const cursor of ["0-1", "1-0", "99999999999999-0"]) {
        const watch = openWatch(t, transport, cursor);
        expect((await watch.nextChange()).case).toBe("snapshot");
        watch.stop();
      }
      const bad = openWatch(t, transport, "not-a-cursor");
      await expectRpcError(bad.next(), Code.InvalidArgument, "invalid_request");
    });

    it("sends heartbeats carrying the cursor the watcher is current to and the server time", async () => {
      const watch = openWatch(t, transport);
      const snapshot = await watch.next();
      const heartbeat = await watch.next();
      expect(heartbeat.case).toBe("heartbeat");
      if (heartbeat.case !== "heartbeat" || snapshot.case !== "snapshot") return;
      expect(heartbeat.value.cursor).toBe(snapshot.value.cursor);
      expect(timestampMs(heartbeat.value.serverTime!)).toBe(t.clock.now());
      watch.stop();
    });

    it("refuses a caller without token:introspect: no credentials or a wrong secret are Unauthenticated, a client without the scope PermissionDenied", async () => {
      await expectRpcError(openWatch(t, transport, "", { authorization: "" }).next(), Code.Unauthenticated, "invalid_client");
      await expectRpcError(openWatch(t, transport, "", basic(watcher.id, "wrong")).next(), Code.Unauthenticated, "invalid_client");
      await expectRpcError(openWatch(t, transport, "", basic(holder.id, holder.secret)).next(), Code.PermissionDenied, "insufficient_scope");
      const noScope = await issued();
      await expectRpcError(openWatch(t, transport, "", bearer(noScope)).next(), Code.PermissionDenied, "insufficient_scope");
    });
  });

  it("accepts a Bearer token with token:introspect", async () => {
    const { accessToken } = await t.tokens.issueClientToken({ scopes: ["token:introspect"] }, { headers: basic(watcher.id, watcher.secret) });
    const watch = openWatch(t, "grpc (HTTP/2)", "", bearer(accessToken));
    expect((await watch.nextChange()).case).toBe("snapshot");
    watch.stop();
  });

  it("counts open watchers and the messages sent in the metrics", async () => {
    const metric = async (name: string) => {
      const text = await (await fetch(`${t.server.url}/metrics`)).text();
      return text.split("\n").filter((line) => line.startsWith(name)).join("\n");
    };
    const watch = openWatch(t, "grpc (HTTP/2)");
    await watch.nextChange();
    // Streams of earlier tests end on the server shortly after their cancellation.
    await eventually(async () => (await metric("tokensmith_revocation_watchers ")) === "tokensmith_revocation_watchers 1");
    const live = await revoked();
    const event = await watch.nextChange();
    expect(event.case === "event" && event.value.kind.case === "accessTokenRevoked" && event.value.kind.value.jti).toBe(live.jti);
    expect(await metric('tokensmith_revocation_watch_messages_total{kind="event"}')).toMatch(/ [1-9]\d*$/);
    expect(await metric('tokensmith_revocation_watch_messages_total{kind="snapshot"}')).toMatch(/ [1-9]\d*$/);
    watch.stop();
    await eventually(async () => (await metric("tokensmith_revocation_watchers ")) === "tokensmith_revocation_watchers 0");
  });
});

describe.each(BACKENDS)("WatchRevocations on its own server on %s", (_name, makeBackend) => {
  const backend = makeBackend();
  beforeAll(() => backend.start());
  afterAll(() => backend.stop());

  it.each(Object.keys(transports) as TransportName[])("server close ends an open %s stream promptly (well within the 60 s grace)", async (transport) => {
    const t = await startAdminServer(backend, { admin, clients: [watcher], config: { shutdownGraceSeconds: 60, watchHeartbeatSeconds: 0.05 } });
    try {
      const watch = openWatch(t, transport);
      expect((await watch.nextChange()).case).toBe("snapshot");
      const ended = (async () => {
        for (;;) await watch.next();
      })().catch((error: unknown) => error);
      // The test's 20 s timeout fails it if close waits for the grace time.
      await t.server.close();
      const error = await ended;
      // Unavailable: the watcher reconnects (to another instance) and resumes from its cursor.
      expect(error).toBeInstanceOf(ConnectError);
      expect(Code[(error as ConnectError).code]).toBe("Unavailable");
    } finally {
      await t.close();
    }
  });

  it.each(["grpc (HTTP/2)", "connect binary (HTTP/2)"] as TransportName[])(
    "the HTTP/2 idle timeout never closes a session carrying an open %s watch",
    async (transport) => {
      const idleTimeoutSeconds = 0.2;
      const heartbeatSeconds = 0.02;
      const t = await startAdminServer(backend, {
        admin,
        clients: [watcher],
        config: { watchHeartbeatSeconds: heartbeatSeconds, http2: { idleTimeoutSeconds } },
      });
      try {
        const watch = openWatch(t, transport);
        expect((await watch.next()).case).toBe("snapshot");
        // Heartbeats spanning three idle timeouts, all on the one session.
        for (let i = 0; i < (3 * idleTimeoutSeconds) / heartbeatSeconds; i++) expect((await watch.next()).case).toBe("heartbeat");
        watch.stop();
      } finally {
        await t.close();
      }
    },
  );

  it.runIf(makeBackend === redisBackend)("sends no heartbeat while Redis does not answer, and heartbeats again once it does", async () => {
    const t = await startAdminServer(backend, { admin, clients: [watcher], config: { watchHeartbeatSeconds: 0.05 } });
    try {
      const watch = openWatch(t, "grpc (HTTP/2)");
      expect((await watch.next()).case).toBe("snapshot");
      expect((await watch.next()).case).toBe("heartbeat");
      let stalled = true;
      let duringStall = 0;
      const resumed = (async () => {
        for (;;) {
          const message = await watch.next();
          if (message.case !== "heartbeat") continue;
          if (!stalled) return message;
          duringStall++;
        }
      })();
      // Redis blocks for 1.5 s (30 heartbeat intervals): at most the heartbeat already due may slip out.
      await (backend as ReturnType<typeof redisBackend>).redis().command(["DEBUG", "SLEEP", "1.5"], 5_000);
      stalled = false;
      expect((await resumed).case).toBe("heartbeat");
      expect(duringStall).toBeLessThanOrEqual(2);
      watch.stop();
    } finally {
      await t.close();
    }
  });
});
