/**
 * Redis must never evict Tokensmith's keys: a revocation, a spent client
 * assertion id or the signing key ring that Redis drops to free memory is
 * not an outage but a silent loss of a guarantee (issue 16: 200 of 200
 * revoked tokens introspected active again under allkeys-lru). Only
 * `noeviction` is safe: a full Redis then refuses writes, which Tokensmith
 * reports as Unavailable.
 */
import { StoreUnavailableError } from "./store.js";

export const SAFE_EVICTION_POLICY = "noeviction";

/** A Redis master may evict keys. Thrown by every store call until the policy is `noeviction`. */
export class EvictionPolicyError extends StoreUnavailableError {
  constructor(
    readonly node: string,
    readonly policy: string,
  ) {
    super(
      `Redis at ${node} has maxmemory-policy ${policy}: set maxmemory-policy ${SAFE_EVICTION_POLICY} ` +
        `(in redis.conf, or CONFIG SET maxmemory-policy ${SAFE_EVICTION_POLICY} then CONFIG REWRITE; on managed Redis, in its parameter group). ` +
        "Tokensmith keeps revocations, spent client-assertion ids and the signing key ring in Redis; " +
        "a Redis that evicts keys when its memory is full brings revoked tokens back to life, " +
        "accepts a used client assertion again and throws the signing keys away",
    );
    this.name = "EvictionPolicyError";
  }
}

/** One Redis server's connection, as far as reading its policy goes. */
export interface RawCommandConnection {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/**
 * The server's maxmemory-policy: CONFIG GET, or where CONFIG is renamed or
 * not permitted (managed Redis, ACLs) the `maxmemory_policy` field of INFO memory.
 */
export async function readEvictionPolicy(connection: RawCommandConnection): Promise<string> {
  try {
    const reply = await connection.call("CONFIG", "GET", "maxmemory-policy");
    if (Array.isArray(reply) && typeof reply[1] === "string") return reply[1];
  } catch (error) {
    // Only an error answered by the server means CONFIG is unavailable; a lost connection is not worth a second try.
    if ((error as Error | undefined)?.name !== "ReplyError") throw error;
  }
  const info = String(await connection.call("INFO", "memory"));
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy === undefined) throw new Error("neither CONFIG GET nor INFO memory reports maxmemory-policy");
  return policy;
}
