import { storeKeys } from "../../src/store/store.js";
import type { RedisServer } from "./redis-server.js";

/**
 * Runs `body` while the change feed of the store with `keyPrefix` on `redis`
 * holds a string: every read and append of the feed fails (WRONGTYPE) and
 * everything else works, as a real Redis refusing just the feed. Afterwards
 * the feed is empty, or with `restore` holds again what it held before.
 */
export async function withBrokenFeed(redis: RedisServer, keyPrefix: string, body: () => Promise<void>, options: { restore?: boolean } = {}): Promise<void> {
  const feedKey = `${keyPrefix}${storeKeys.feed()}`;
  const saved = options.restore ? await redis.command(["DUMP", feedKey]) : null;
  await redis.command(["DEL", feedKey]);
  await redis.command(["SET", feedKey, "not a stream"]);
  try {
    await body();
  } finally {
    await redis.command(["DEL", feedKey]);
    if (saved !== null) await redis.command(["RESTORE", feedKey, "0", saved as string]);
  }
}
