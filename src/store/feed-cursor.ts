/**
 * Change-feed cursors: Redis stream ids, `<ms>-<seq>`, which the memory store
 * mints in the same format. They order by time, then by sequence within a
 * millisecond, so readers on either store compare them the same way.
 */
const CURSOR = /^(\d{1,16})-(\d{1,16})$/;

export interface ParsedFeedCursor {
  ms: number;
  seq: number;
}

/** Undefined for anything that is not `<ms>-<seq>` with both parts safe integers. */
export function parseFeedCursor(cursor: string): ParsedFeedCursor | undefined {
  const match = CURSOR.exec(cursor);
  if (match === null) return undefined;
  const ms = Number(match[1]);
  const seq = Number(match[2]);
  // Bounded below 2^53 so that `(<cursor>` is always a valid exclusive XRANGE start.
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) return undefined;
  return { ms, seq };
}

/** A caller passing a cursor it did not get from a store misuses the API: a TypeError, never "store unavailable". */
export function requireFeedCursor(cursor: string): ParsedFeedCursor {
  const parsed = parseFeedCursor(cursor);
  if (parsed === undefined) throw new TypeError(`not a change-feed cursor: ${JSON.stringify(cursor.slice(0, 64))}`);
  return parsed;
}

/** Negative when `a` comes before `b`, 0 when equal, positive after. */
export function compareFeedCursors(a: string, b: string): number {
  const x = requireFeedCursor(a);
  const y = requireFeedCursor(b);
  return x.ms !== y.ms ? x.ms - y.ms : x.seq - y.seq;
}
