/**
 * Data growth: fills the bench Redis with what a long-lived deployment holds,
 * many AdminService clients and a large revocation set (or many tenants with
 * their clients), written directly in the store's format (src/store/store.ts storeKeys, src/domain/client-registry.ts
 * StoredClient) with the default "tokensmith:" key prefix.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { StoredClient } from "../../src/domain/client-registry.js";
import { generateSecret, hashSecret } from "../../src/domain/secret-format.js";
import { storeKeys } from "../../src/store/store.js";
import { TENANTS_KEY, type StoredTenant } from "../../src/domain/tenant-registry.js";
import { tenantKey } from "../../src/store/tenant-store.js";

const KEY_PREFIX = "tokensmith:";
const CLIENT_BATCH = 1_000;
const REVOKED_BATCH = 20_000;

/**
 * SET <prefix><jti>} 1 PX <ttl> for every jti in ARGV[5..]: one round trip per
 * batch. With a feed key (ARGV[3], else ""), also the change-feed entry a Revoke
 * appends (src/domain/change-feed.ts encodeFeedEvent), `exp` the end of the TTL
 * from ARGV[4] (ms since the epoch). (Keys built in the script: fine on the
 * standalone bench server.)
 */
const SEED_REVOKED = `
local prefix = ARGV[1]
local base = tonumber(ARGV[2])
local feed = ARGV[3]
local now = tonumber(ARGV[4])
for i = 5, #ARGV do
  local ttl = base + (i * 7919) % 3600000
  redis.call('SET', prefix .. ARGV[i] .. '}', '1', 'PX', ttl)
  if feed ~= '' then
    redis.call('XADD', feed, '*', 'type', 'access_token_revoked', 'jti', ARGV[i], 'exp', string.format('%d', math.floor((now + ttl) / 1000)))
  end
end
return #ARGV - 4
`;

export interface RedisFootprint {
  keys: number;
  usedMemoryMb: number;
}

export async function footprint(url: string): Promise<RedisFootprint> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.dbsize();
    const info = await redis.info("memory");
    const used = /^used_memory:(\d+)/m.exec(info);
    return { keys, usedMemoryMb: used ? Number(used[1]) / 1024 / 1024 : 0 };
  } finally {
    redis.disconnect();
  }
}

export async function seed(
  url: string,
  counts: { clients: number; revoked: number },
  log: (message: string) => void,
): Promise<{ seconds: number }> {
  const started = Date.now();
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: 120_000 });
  try {
    await redis.connect();
    const clientsKey = KEY_PREFIX + storeKeys.clients();
    // A realistic record: one secret hash, a few scopes, an audience.
    const secretHash = hashSecret(generateSecret("client_secret"));
    for (let done = 0; done < counts.clients; ) {
      const fields: Record<string, string> = {};
      const batch = Math.min(CLIENT_BATCH, counts.clients - done);
      for (let i = 0; i < batch; i++) {
        const id = `seeded-client-${String(done + i).padStart(7, "0")}`;
        const record: StoredClient = {
          id,
          secrets: [{ hash: i % 2 === 0 ? secretHash : hashSecret(id) }],
          scopes: ["orders:read", "orders:write", "inventory:read"],
          audiences: [`https://api.example.com/${id}`],
          tokenLifetimeSeconds: 3600,
          createdAt: Date.now() - (done + i) * 1000,
        };
        fields[id] = JSON.stringify(record);
      }
      await redis.hset(clientsKey, fields);
      done += batch;
    }
    if (counts.clients > 0) log(`seeded ${counts.clients.toLocaleString("en-US")} clients into ${clientsKey}`);

    await seedRevoked(redis, counts.revoked, false);
    if (counts.revoked > 0) log(`seeded ${counts.revoked.toLocaleString("en-US")} revoked jtis as ${REVOKED_PREFIX}<jti>} with 1-2 h TTLs`);
  } finally {
    redis.disconnect();
  }
  return { seconds: (Date.now() - started) / 1000 };
}

/** "tokensmith:revoked:{" */
const REVOKED_PREFIX = KEY_PREFIX + storeKeys.revokedJti("").slice(0, -1);

/** `count` random jtis revoked, with TTLs between 1 and 2 hours, spread out (nothing expires during a run); with `feed`, each with its feed entry. */
async function seedRevoked(redis: Redis, count: number, feed: boolean): Promise<void> {
  const baseTtlMs = 3_600_000;
  const feedKey = feed ? KEY_PREFIX + storeKeys.feed() : "";
  for (let done = 0; done < count; ) {
    const batch = Math.min(REVOKED_BATCH, count - done);
    const jtis: string[] = [];
    // Same shape as the server's jti: 16 random bytes, base64url.
    const random = randomBytes(16 * batch);
    for (let i = 0; i < batch; i++) jtis.push(random.subarray(i * 16, i * 16 + 16).toString("base64url"));
    await redis.eval(SEED_REVOKED, 0, REVOKED_PREFIX, String(baseTtlMs), feedKey, String(Date.now()), ...jtis);
    done += batch;
  }
}

/**
 * What `count` Revokes leave behind, written directly: each revoked jti's key
 * and its `access_token_revoked` entry in the change feed (XADD, 20k per
 * script call), so a verifier started afterwards gets them in its snapshot.
 * No instance is told: one that follows the feed reads them all, 500 a poll.
 */
export async function seedFeedRevocations(url: string, count: number): Promise<{ seconds: number; feedLength: number }> {
  const started = Date.now();
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: 120_000 });
  try {
    await redis.connect();
    await seedRevoked(redis, count, true);
    return { seconds: (Date.now() - started) / 1000, feedLength: await redis.xlen(KEY_PREFIX + storeKeys.feed()) };
  } finally {
    redis.disconnect();
  }
}

/** A client as the AdminService stores it: one secret hash, the scopes, 1 h tokens. */
function storedClient(id: string, secretHash: string, scopes: string[], createdAt = Date.now()): StoredClient {
  return { id, secrets: [{ hash: secretHash }], scopes, audiences: [], tokenLifetimeSeconds: 3600, createdAt };
}

/** A client of one tenant, with its secret in clear (the bench authenticates as it). */
export interface TenantClient {
  tenant: string;
  id: string;
  secret: string;
}

/**
 * Tenants and their clients as the AdminService would store them (issue 19):
 * each tenant a record in the deployment's `admin:{tenants}` hash (see
 * TenantRegistry), each client a record in its tenant's clients hash (the
 * tenant's key space, see tenantKey). Tokensmith finds them on first use;
 * each tenant's key ring is created then.
 */
export async function seedTenants(url: string, tenants: readonly string[], clients: readonly TenantClient[], scopes: string[]): Promise<{ seconds: number }> {
  const started = Date.now();
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: 120_000 });
  try {
    await redis.connect();
    for (let done = 0; done < tenants.length; done += CLIENT_BATCH) {
      const records = tenants.slice(done, done + CLIENT_BATCH).map((id): StoredTenant => ({ id, createdAt: started }));
      await redis.hset(KEY_PREFIX + TENANTS_KEY, Object.fromEntries(records.map((record) => [record.id, JSON.stringify(record)])));
    }
    for (let done = 0; done < clients.length; done += CLIENT_BATCH) {
      const pipeline = redis.pipeline();
      for (const client of clients.slice(done, done + CLIENT_BATCH)) {
        pipeline.hset(KEY_PREFIX + tenantKey(client.tenant, storeKeys.clients()), client.id, JSON.stringify(storedClient(client.id, hashSecret(client.secret), scopes, started)));
      }
      await pipeline.exec();
    }
  } finally {
    redis.disconnect();
  }
  return { seconds: (Date.now() - started) / 1000 };
}

/** Commands Redis has executed since it started, by command (INFO commandstats), to count the store's work per request. */
export async function redisCommandCounts(url: string): Promise<Record<string, number>> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = await redis.info("commandstats");
    const counts: Record<string, number> = {};
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]!] = Number(match[2]);
    return counts;
  } finally {
    redis.disconnect();
  }
}
