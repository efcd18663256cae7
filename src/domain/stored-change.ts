import { OAuthError } from "./oauth-error.js";

/** NotFound, naming what was looked for (`client "x"`, `API key "y"`, ...). */
export const notFound = (what: string) => new OAuthError("invalid_request", "not_found", `${what} not found`);

/** How many times a change of a stored record is tried when other calls keep writing the record first. */
export const SAVE_ATTEMPTS = 5;

/** A stored record as read, with its revision: the value as stored, which a compare-and-set write compares. */
export interface Revised<T> {
  record: T;
  revision: string;
}

/**
 * Reads a stored record (NotFound, naming `what`, when it is gone), lets
 * `change` edit it (false: nothing to write) and writes it back by
 * compare-and-set against the revision read (`write` false: another call
 * wrote or deleted it meanwhile), reading again then. A plain write of what
 * was read would undo the other call: a record deleted meanwhile would come
 * back (a deleted tenant unmarked, a deleted client's secrets working
 * again), and of two updates one would be lost. Resolves the record as
 * written (or as read, when `change` wrote nothing); Unavailable after
 * SAVE_ATTEMPTS writes lost, naming `what` was changed.
 */
export async function changeStored<T>(
  what: string,
  access: { read(): Promise<Revised<T> | null | undefined>; write(record: T, revision: string): Promise<boolean> },
  change: (record: T) => boolean,
): Promise<T> {
  for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
    const stored = await access.read();
    if (stored === null || stored === undefined) throw notFound(what);
    const { record, revision } = stored;
    if (!change(record) || (await access.write(record, revision))) return record;
  }
  throw new OAuthError("temporarily_unavailable", "unavailable", `${what} was changed by another call each of the ${SAVE_ATTEMPTS} times this one tried to write it: try again`);
}
