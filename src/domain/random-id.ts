import { randomFillSync } from "node:crypto";

const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

/**
 * `length` (≤ 8 KiB) bytes from the CSPRNG, drawn from a pool refilled
 * 8 KiB at a time (one call into OpenSSL costs ~4 µs here, whatever the
 * size). Every byte is handed out once; the view is only valid until the
 * next call, so read it at once.
 */
export function randomPoolBytes(length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > POOL_SIZE) throw new RangeError(`randomPoolBytes: 0..${POOL_SIZE} bytes`);
  if (offset + length > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + length);
  offset += length;
  return bytes;
}

/** 128 random bits as base64url (a `jti`). */
export function randomId(): string {
  return randomPoolBytes(16).toString("base64url");
}
