import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GetJwksResponseSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { systemClock } from "../../src/domain/clock.js";
import { KeyRing, type KeyRingState } from "../../src/keys/key-ring.js";
import { StoreKeyPersistence } from "../../src/keys/store-key-persistence.js";
import type { RunningServer } from "../../src/server.js";
import { MemoryStore } from "../../src/store/memory.js";
import { storeKeys, type Store } from "../../src/store/store.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

/**
 * With `dataDir`, the signing key survives a restart: tokens issued before
 * the restart keep verifying. Without it, every start has a fresh key.
 */

const orders = testClient("orders-service", ["orders:read"]);
// Port 0 gives each start another port; a fixed issuer keeps `iss` stable across restarts.
const issuer = "https://tokensmith.test";

let dataDir: string;
const running: RunningServer[] = [];

async function start(config: { dataDir?: string; signingAlgorithm?: "EdDSA" | "ES256"; store?: { type: "redis"; url: string } } = {}): Promise<RunningServer> {
  const server = await startTestServer({ clients: [orders], config: { issuer, ...config } });
  running.push(server);
  return server;
}

async function stop(server: RunningServer): Promise<void> {
  running.splice(running.indexOf(server), 1);
  await server.close();
}

// HTTP/2 throughout: a session closes with the server, so restarts stay quick.
const rpc = (server: RunningServer) => tokenClient(transports["connect binary (HTTP/2)"](server.url));

async function issueToken(server: RunningServer): Promise<string> {
  return (await rpc(server).issueClientToken({}, { headers: basic(orders.id, orders.secret) })).accessToken;
}

/** The published JWKS, as a resource server would fetch it. */
async function publishedJwks(server: RunningServer): Promise<JSONWebKeySet> {
  return toJson(GetJwksResponseSchema, await rpc(server).getJwks({})) as unknown as JSONWebKeySet;
}

async function publishedKids(server: RunningServer): Promise<string[]> {
  return (await publishedJwks(server)).keys.map((key) => key.kid ?? "");
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "tokensmith-keys-"));
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
  await rm(dataDir, { recursive: true, force: true });
});

describe("without dataDir", () => {
  it("publishes a new kid on every start, and a token of the previous run no longer verifies", async () => {
    const first = await start();
    const token = await issueToken(first);
    const [firstKid] = await publishedKids(first);
    await stop(first);

    const second = await start();
    const secondKids = await publishedKids(second);
    expect(secondKids).toHaveLength(1);
    expect(secondKids).not.toContain(firstKid);
    expect(second.domain.accessTokens.verify(token)).toEqual({ ok: false, reason: "unknown_key" });
  });
});

describe("with dataDir", () => {
  it("publishes the same kid after a restart and verifies a token issued before it", async () => {
    const first = await start({ dataDir });
    const token = await issueToken(first);
    const firstKids = await publishedKids(first);
    await stop(first);

    const second = await start({ dataDir });
    expect(await publishedKids(second)).toEqual(firstKids);
    expect(decodeProtectedHeader(token).kid).toBe(firstKids[0]);
    expect(second.domain.accessTokens.verify(token)).toMatchObject({ ok: true, claims: { client_id: orders.id } });
    const { payload } = await jwtVerify(token, createLocalJWKSet(await publishedJwks(second)), {
      typ: "at+jwt",
      issuer,
    });
    expect(payload.sub).toBe(orders.id);
  });

  it("keeps an ES256 key across a restart too", async () => {
    const first = await start({ dataDir, signingAlgorithm: "ES256" });
    const token = await issueToken(first);
    await stop(first);

    const second = await start({ dataDir, signingAlgorithm: "ES256" });
    expect(decodeProtectedHeader(token).alg).toBe("ES256");
    expect(second.domain.accessTokens.verify(token).ok).toBe(true);
  });

  it("writes the key file readable and writable by the owner only (mode 0600)", async () => {
    await start({ dataDir });
    const keyFile = join(dataDir, "signing-keys.json");
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
  });

  it("creates a dataDir that does not exist yet, accessible to the owner only (mode 0700)", async () => {
    const nested = join(dataDir, "state", "tokensmith");
    await start({ dataDir: nested });
    expect((await stat(nested)).mode & 0o777).toBe(0o700);
    expect((await stat(join(nested, "signing-keys.json"))).mode & 0o777).toBe(0o600);
  });
});

describe("signing keys in the data directory with a key-encryption key", () => {
  it("are stored encrypted, load again with the same KEK, and refuse to load without it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokensmith-kek-"));
    const kek = randomBytes(32).toString("hex");
    try {
      const first = await startTestServer({ config: { dataDir: dir, keyEncryptionKey: kek } });
      const kid = first.domain.keyRing.active().kid;
      await first.close();
      const text = readFileSync(join(dir, "signing-keys.json"), "utf8");
      expect(text).toContain('"encrypted"');
      expect(text).not.toContain('"d"');
      const second = await startTestServer({ config: { dataDir: dir, keyEncryptionKey: kek } });
      expect(second.domain.keyRing.active().kid).toBe(kid);
      await second.close();
      await expect(startTestServer({ config: { dataDir: dir } })).rejects.toThrow(/encrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Issue 16: after Redis lost the ring, a new instance created a fresh one,
 * the running instances adopted it, and every token issued before stopped
 * verifying fleet-wide. An instance that holds keys puts them back.
 */
describe("a key ring that Redis loses (FLUSHALL)", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    await redis.command(["FLUSHALL"]);
  });

  const inRedis = () => start({ store: { type: "redis", url: redis.url } });
  /** The step of key maintenance that re-reads the shared ring, run now rather than on its timer. */
  const maintain = (...servers: RunningServer[]) => Promise.all(servers.map((server) => server.domain.keyRing.reload()));
  const kidsIn = (server: RunningServer) => server.domain.keyRing.describe().map((key) => key.kid);

  it("is written back by the instances that hold it: a token issued before verifies on them and on an instance started after", async () => {
    const a = await inRedis();
    const b = await inRedis();
    const token = await issueToken(a);
    const fleetKids = kidsIn(a);
    expect(kidsIn(b)).toEqual(fleetKids);

    await redis.command(["FLUSHALL"]);
    await maintain(b);
    await maintain(a);
    expect(await redis.command(["EXISTS", `tokensmith:${storeKeys.signingKeys()}`])).toBe(1);

    const c = await inRedis();
    expect(kidsIn(c)).toEqual(fleetKids);
    await maintain(a, b);
    for (const server of [a, b, c]) {
      expect(kidsIn(server)).toEqual(fleetKids);
      expect(server.domain.accessTokens.verify(token)).toMatchObject({ ok: true, claims: { client_id: orders.id } });
    }
  });

  it("a fresh ring that an instance started after the loss created does not replace the held keys: they are merged back", async () => {
    const a = await inRedis();
    const b = await inRedis();
    const before = await issueToken(a);
    const fleetKids = kidsIn(a);

    await redis.command(["FLUSHALL"]);
    const c = await inRedis();
    const freshKid = c.domain.keyRing.active().kid;
    expect(fleetKids).not.toContain(freshKid);
    const byC = await issueToken(c);

    await maintain(a, b);
    await maintain(c);
    for (const server of [a, b, c]) {
      expect(new Set(kidsIn(server))).toEqual(new Set([...fleetKids, freshKid]));
      expect(server.domain.accessTokens.verify(before).ok).toBe(true);
      expect(server.domain.accessTokens.verify(byC).ok).toBe(true);
    }
  });
});

describe("writing a lost ring back", () => {
  /** Another writer puts `theirs` in the store between this instance's read (which found nothing) and its write. */
  class RacedPersistence extends StoreKeyPersistence {
    racing = false;
    constructor(
      private readonly raceStore: Store,
      private readonly theirs: KeyRingState,
    ) {
      super(raceStore, undefined);
    }
    override async load(): Promise<KeyRingState | undefined> {
      if (!this.racing) return super.load();
      this.racing = false;
      await new StoreKeyPersistence(this.raceStore, undefined).save(this.theirs);
      return undefined;
    }
  }

  it("writes only if still absent: a ring written meanwhile is kept, and the held keys are merged into it", async () => {
    const elsewhere = new MemoryStore();
    const other = await KeyRing.open({ persistence: new StoreKeyPersistence(elsewhere, undefined), algorithm: "EdDSA", clock: systemClock });
    const theirs = (await new StoreKeyPersistence(elsewhere, undefined).load())!;
    const store = new MemoryStore();
    const persistence = new RacedPersistence(store, theirs);
    const ring = await KeyRing.open({ persistence, algorithm: "EdDSA", clock: systemClock });
    const ours = ring.active().kid;
    try {
      await store.del(storeKeys.signingKeys());
      persistence.racing = true;
      await ring.reload();
      const stored = await new StoreKeyPersistence(store, undefined).load();
      expect(new Set(stored?.keys.map((key) => key.kid))).toEqual(new Set([ours, other.active().kid]));
      expect(ring.find(ours)).toBeDefined();
      expect(ring.find(other.active().kid)).toBeDefined();
    } finally {
      await Promise.all([store.close(), elsewhere.close()]);
    }
  });
});
