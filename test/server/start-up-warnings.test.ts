import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config.js";
import type { RunningServer } from "../../src/server.js";
import { redisBackend } from "../support/backends.js";
import { capturedLog, type CapturedLog } from "../support/captured-log.js";
import { startTestServer } from "../support/tokensmith.js";

/**
 * What Tokensmith warns about once at start, read from the pino logger given
 * to startServer: settings that work but leave a deployment weaker than the
 * operator probably thinks.
 */

const backend = redisBackend();
const servers: RunningServer[] = [];

beforeAll(async () => {
  await backend.start();
});
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await backend.stop();
});

async function startLogged(config: Partial<ConfigInput>): Promise<{ server: RunningServer; log: CapturedLog }> {
  const log = capturedLog("info");
  const server = await startTestServer({ config, logger: log.logger });
  servers.push(server);
  return { server, log };
}

const onRedis = () => backend.serverOptions().config;

describe("signing keys in Redis without TOKENSMITH_KEY_ENCRYPTION_KEY (issue 16, item 10e)", () => {
  const plaintextWarning = /TOKENSMITH_KEY_ENCRYPTION_KEY/;

  it("warns once at start, naming the variable, and not again when the key ring is written later", async () => {
    const { server, log } = await startLogged(onRedis());
    const [warning, ...more] = log.matching(plaintextWarning);
    expect(warning).toMatchObject({ level: 40 });
    expect(warning!.msg).toMatch(/unencrypted|plaintext/);
    expect(more).toEqual([]);
    await server.domain.administration.rotateSigningKey();
    expect(log.matching(plaintextWarning)).toHaveLength(1);
  });

  it.each<[string, () => Partial<ConfigInput>]>([
    ["Redis with a key-encryption key", () => ({ ...onRedis(), keyEncryptionKey: randomBytes(32).toString("hex") })],
    ["the memory store", () => ({})],
  ])("is silent with %s", async (_case, config) => {
    const { log } = await startLogged(config());
    expect(log.matching(/tokensmith listening/)).toHaveLength(1);
    expect(log.matching(plaintextWarning)).toEqual([]);
  });
});

describe("a shared store with the default issuer (issue 16, item 10f)", () => {
  const issuerWarning = /issuer/;

  it("warns at start with Redis and no issuer set: the default one differs per instance, so instances refuse each other's tokens", async () => {
    const { server, log } = await startLogged(onRedis());
    const [warning, ...more] = log.matching(issuerWarning).filter((line) => line.level === 40);
    expect(warning!.msg).toContain(server.domain.issuer);
    expect(warning!.msg).toMatch(/TOKENSMITH_ISSUER/);
    expect(more).toEqual([]);
  });

  it.each<[string, () => Partial<ConfigInput>]>([
    ["Redis with an explicit issuer", () => ({ ...onRedis(), issuer: "https://tokens.example.test" })],
    ["the memory store and the default issuer", () => ({})],
  ])("is silent with %s", async (_case, config) => {
    const { log } = await startLogged(config());
    expect(log.matching(/tokensmith listening/)).toHaveLength(1);
    expect(log.matching(issuerWarning).filter((line) => line.level === 40)).toEqual([]);
  });
});
