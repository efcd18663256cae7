import type { Clock } from "../domain/clock.js";
import { requireFeedCursor, type ParsedFeedCursor } from "./feed-cursor.js";
import type { FeedEntry, FeedFields, StreamRange } from "./store.js";

type Held = ParsedFeedCursor & { cursor: string; fields: FeedFields };

const after = (entry: ParsedFeedCursor, bound: ParsedFeedCursor) => entry.ms > bound.ms || (entry.ms === bound.ms && entry.seq > bound.seq);

/**
 * One Redis Stream in memory (MemoryStore's change feed and its other
 * streams): ids minted like Redis' `*` (the clock's ms, then a sequence
 * within the ms), MINID trimming on append, oldest first.
 */
export class MemoryStream {
  private readonly entries: Held[] = [];
  /** Index of the oldest live entry; the array is compacted once the dead head outgrows the rest. */
  private head = 0;

  constructor(private readonly clock: Clock) {}

  append(fields: FeedFields, retainMs: number): string {
    const now = this.clock.now();
    const last = this.entries[this.entries.length - 1];
    // Like Redis: ids never go backwards, even if the clock does.
    const ms = last === undefined || now > last.ms ? now : last.ms;
    const seq = ms === last?.ms ? last.seq + 1 : 0;
    const cursor = `${ms}-${seq}`;
    this.entries.push({ ms, seq, cursor, fields: { ...fields } });
    // MINID semantics: entries whose ms is below now - retainMs go.
    const minMs = now - retainMs;
    while (this.head < this.entries.length && this.entries[this.head]!.ms < minMs) this.head += 1;
    if (this.head > 1_024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    return cursor;
  }

  get empty(): boolean {
    return this.head >= this.entries.length;
  }

  oldest(): string | undefined {
    return this.entries[this.head]?.cursor;
  }

  newest(): string | undefined {
    return this.empty ? undefined : this.entries.at(-1)!.cursor;
  }

  /** Up to `count` entries strictly after `cursor` (from the oldest when undefined), oldest first. */
  readAfter(cursor: string | undefined, count: number): FeedEntry[] {
    const start = cursor === undefined ? this.head : this.firstAfter(requireFeedCursor(cursor));
    return this.entries.slice(start, start + Math.max(0, count)).map(copy);
  }

  /** Up to `count` entries in `range`, newest first (Store.streamReadBack). */
  readBack(range: StreamRange, count: number): FeedEntry[] {
    const before = range.before === undefined ? undefined : requireFeedCursor(range.before);
    let end = this.entries.length;
    if (before !== undefined) end = this.firstAfter({ ms: before.ms, seq: before.seq - 1 });
    if (range.untilMs !== undefined) end = Math.min(end, this.firstAfter({ ms: range.untilMs, seq: Number.MAX_SAFE_INTEGER }));
    const found: FeedEntry[] = [];
    for (let index = end - 1; index >= this.head && found.length < count; index -= 1) {
      const entry = this.entries[index]!;
      if (range.sinceMs !== undefined && entry.ms < range.sinceMs) break;
      found.push(copy(entry));
    }
    return found;
  }

  /** Binary search for the first live entry after `bound`: readers read near the end of a long stream. */
  private firstAfter(bound: ParsedFeedCursor): number {
    let start = this.head;
    let end = this.entries.length;
    while (start < end) {
      const middle = (start + end) >>> 1;
      if (after(this.entries[middle]!, bound)) end = middle;
      else start = middle + 1;
    }
    return start;
  }
}

function copy({ cursor, fields }: Held): FeedEntry {
  return { cursor, fields: { ...fields } };
}
