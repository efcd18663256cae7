import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import { KeyEncryption } from "../../src/keys/key-encryption.js";
import type { KeyRingState } from "../../src/keys/key-ring.js";
import type { RunningServer } from "../../src/server.js";
import { storeKeys } from "../../src/store/store.js";
import { redisBackend } from "../support/backends.js";
import { ADMIN_SCOPE, startAdminServer } from "../support/admin.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

/**
 * The signing key ring in Redis is shared by every instance; with a
 * key-encryption key (KEK, from TOKENSMITH_KEY_ENCRYPTION_KEY) the private
 * keys are stored AES-256-GCM encrypted, and an instance without the right
 * KEK cannot start on it.
 */

const admin = testClient("admin", [ADMIN_SCOPE]);
const AAD = "tokensmith signing key ring";
const newKek = () => randomBytes(32).toString("hex");

describe("signing keys at rest in Redis", () => {
  const backend = redisBackend();
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    await backend.start();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await backend.stop();
  });

  /** A fresh key prefix: an empty ring for each test. */
  const freshStore = () => backend.serverOptions().config as Partial<ConfigInput> & { store: { keyPrefix: string } };
  const start = async (config: Partial<ConfigInput>) => {
    const server = await startTestServer({ config });
    servers.push(server);
    return server;
  };
  const storedRing = async (prefix: string) => {
    const raw = await backend.redis().command(["GET", `${prefix}${storeKeys.signingKeys()}`]);
    if (typeof raw !== "string") throw new Error(`no key ring stored under ${prefix}${storeKeys.signingKeys()}`);
    return raw;
  };
  const privateParts = (state: KeyRingState) => state.keys.map((key) => (key.privateJwk as { d?: string }).d ?? "");

  it("with a KEK, the stored ring holds no private key material in clear, before and after a rotation", async () => {
    const kek = newKek();
    const store = freshStore();
    const t = await startAdminServer(backend, { admin, sharedConfig: store, config: { keyEncryptionKey: kek } });
    try {
      for (const expectedKeys of [1, 2]) {
        const raw = await storedRing(store.store.keyPrefix);
        const envelope = JSON.parse(raw) as { encrypted?: string; plain?: unknown };
        expect(Object.keys(envelope)).toEqual(["encrypted"]);
        expect(raw).not.toMatch(/"d"\s*:/);
        expect(raw).not.toContain("privateJwk");
        // Decrypting with the KEK shows what the ciphertext hides.
        const state = JSON.parse(KeyEncryption.fromEnvironmentValue(kek).decrypt(envelope.encrypted!, AAD)) as KeyRingState;
        expect(state.keys).toHaveLength(expectedKeys);
        for (const d of privateParts(state)) {
          expect(d.length).toBeGreaterThan(20);
          expect(raw).not.toContain(d);
        }
        if (expectedKeys === 1) await t.admin.rotateSigningKey({});
      }
    } finally {
      await t.close();
    }
  });

  it("a second instance with the same KEK (hex or base64) shares the ring", async () => {
    const kek = newKek();
    const store = freshStore();
    const a = await start({ ...store, keyEncryptionKey: kek });
    const b = await start({ ...store, keyEncryptionKey: Buffer.from(kek, "hex").toString("base64") });
    expect(b.domain.keyRing.publicJwks()).toEqual(a.domain.keyRing.publicJwks());
  });

  it("a second instance with the wrong KEK fails to start, with a message that says so", async () => {
    const store = freshStore();
    await start({ ...store, keyEncryptionKey: newKek() });
    await expect(start({ ...store, keyEncryptionKey: newKek() })).rejects.toThrow(
      "cannot decrypt the signing keys: wrong key-encryption key, or the stored keys were altered",
    );
  });

  it("a second instance without a KEK fails to start, naming TOKENSMITH_KEY_ENCRYPTION_KEY", async () => {
    const store = freshStore();
    await start({ ...store, keyEncryptionKey: newKek() });
    await expect(start(store)).rejects.toThrow(/encrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY/);
  });

  it("a KEK that is not 32 bytes stops the start with a message that says what it must be", async () => {
    await expect(start({ ...freshStore(), keyEncryptionKey: "abcd" })).rejects.toThrow(/32 bytes, as 64 hex characters or base64/);
  });

  it("production: true without a KEK refuses to start on Redis, naming TOKENSMITH_KEY_ENCRYPTION_KEY, and stores nothing", async () => {
    const store = freshStore();
    await expect(start({ ...store, production: true })).rejects.toThrow(/TOKENSMITH_KEY_ENCRYPTION_KEY/);
    expect(await backend.redis().command(["GET", `${store.store.keyPrefix}${storeKeys.signingKeys()}`])).toBeNull();
  });

  it("`tokensmith serve` in production on Redis without a KEK exits 2, naming TOKENSMITH_KEY_ENCRYPTION_KEY", { timeout: 60_000 }, async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) if (!/^(TOKENSMITH_|REDIS_)/.test(name) && name !== "NODE_ENV") env[name] = value;
    const child = spawn(process.execPath, ["bin/tokensmith.js", "serve"], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { ...env, TOKENSMITH_ENV: "production", REDIS_URL: backend.redis().url, TOKENSMITH_PORT: "0", TOKENSMITH_LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 50_000);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(stderr).toContain("set TOKENSMITH_KEY_ENCRYPTION_KEY to 32 random bytes");
  });

  it("production: true with a KEK starts, and stores the ring encrypted", async () => {
    const store = freshStore();
    await start({ ...store, production: true, keyEncryptionKey: newKek() });
    expect(Object.keys(JSON.parse(await storedRing(store.store.keyPrefix)) as object)).toEqual(["encrypted"]);
  });

  it("without a KEK (and not in production) the ring is stored in clear", async () => {
    const store = freshStore();
    await start(store);
    expect(await storedRing(store.store.keyPrefix)).toMatch(/"plain".*"d":/);
  });

  // Turning on a KEK for an existing deployment: the ring stored in clear must not stay in clear.
  it("an instance started with a KEK on a ring stored in clear encrypts it", async () => {
    const store = freshStore();
    await start(store);
    await start({ ...store, keyEncryptionKey: newKek() });
    expect(await storedRing(store.store.keyPrefix)).not.toMatch(/"d"\s*:/);
  });
});
