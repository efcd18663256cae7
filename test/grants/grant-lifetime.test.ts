import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.js";
import { generateSecret, hashSecret, tokenDigest } from "../../src/domain/secret-format.js";
import type { RunningServer } from "../../src/server.js";
import { MemoryStore } from "../../src/store/memory.js";
import { storeKeys } from "../../src/store/store.js";
import { apiKeyAuth, basic, startTestServer, testClient, tokenClient, transports } from "../support/tokensmith.js";

// A grant lives its whole lifetime from the instant it is issued, as its store
// TTL does, however late in a second it was issued. (Once its end was the issue
// second, truncated, plus the lifetime: a one-second grant issued at x.999 s was
// active for one millisecond.)
const oneSecondKey = generateSecret("api_key");
const introspector = testClient("resource-server", ["token:introspect"]);
const SECOND = Date.UTC(2026, 10, 24, 6, 0, 0);

describe("grant lifetime", () => {
  const clock = new ManualClock(SECOND);
  const store = new MemoryStore(clock);
  let server: RunningServer;
  let rpc: ReturnType<typeof tokenClient>;

  beforeAll(async () => {
    server = await startTestServer({
      clients: [introspector],
      store,
      clock,
      config: { apiKeys: [{ name: "short-lived", keyHash: hashSecret(oneSecondKey), scopes: ["passkey:read"], grantLifetimeSeconds: 1 }] },
    });
    rpc = tokenClient(transports["connect JSON (HTTP/1.1)"](server.url));
  });
  afterAll(async () => {
    await server?.close();
    await store.close();
  });

  const introspect = (token: string) => rpc.introspect({ token }, { headers: basic(introspector.id, introspector.secret) });
  const issue = () => rpc.issueGrant({ username: "dave", grants: ["passkey:read"] }, { headers: apiKeyAuth(oneSecondKey) });

  it.each([0, 1, 500, 998, 999])("issued %i ms into a second: active for exactly its 1000 ms", async (intoSecond) => {
    clock.set(SECOND + intoSecond);
    const grant = await issue();
    expect(grant.expiresIn).toBe(1n);

    clock.set(SECOND + intoSecond + 999);
    const late = await introspect(grant.token);
    expect(late.active).toBe(true);
    // exp is whole seconds rounded up: an active grant's exp is always still ahead.
    expect(Number(late.exp) * 1000).toBeGreaterThan(clock.now());
    expect(Number(late.exp)).toBe(Math.ceil((SECOND + intoSecond + 1000) / 1000));
    expect(Number(late.iat)).toBe(Math.floor((SECOND + intoSecond) / 1000));

    clock.set(SECOND + intoSecond + 1000);
    expect((await introspect(grant.token)).active).toBe(false);
  });

  it("a record written without the exact end (before it was kept) still ends at its exp second", async () => {
    clock.set(SECOND + 10_000);
    const token = generateSecret("grant");
    const iat = Math.floor(clock.now() / 1000);
    const record = { username: "erin", scopes: ["passkey:read"], apiKey: "short-lived", iat, exp: iat + 2, jti: "old-format" };
    await store.set(storeKeys.grant(tokenDigest(token)), JSON.stringify(record), { ttlMs: 60_000 });

    clock.set((iat + 2) * 1000 - 1);
    const result = await introspect(token);
    expect(result.active).toBe(true);
    expect(result.jti).toBe("old-format");
    expect(Number(result.exp)).toBe(iat + 2);
    clock.set((iat + 2) * 1000);
    expect((await introspect(token)).active).toBe(false);
  });
});
