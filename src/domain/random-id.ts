import { randomFillSync } from "node:crypto";

const POOL_SIZE = 16 * 512;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

/** 128 random bits as base64url (a `jti`), drawn from a pool refilled 512 ids at a time. */
export function randomId(): string {
  if (offset + 16 > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString("base64url", offset, offset + 16);
  offset += 16;
  return id;
}
