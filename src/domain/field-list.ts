/**
 * Every field name of T, written once next to T: `satisfies FieldList<T>`
 * makes a missing or unknown name a compile error, so a field added to an
 * entity cannot be forgotten by the code that copies it.
 */
export type FieldList<T> = { readonly [K in keyof Required<T>]: true };

/**
 * The listed fields a record has (absent optional ones stay absent). Views
 * are built from this allow-list, never by spreading a record, so a secret or
 * bookkeeping field added to a stored form never reaches a caller.
 */
export function pickFields<T extends object>(record: T, fields: FieldList<T>): T {
  const picked: Partial<T> = {};
  for (const key of Object.keys(fields) as Array<keyof T>) {
    if (record[key] !== undefined) picked[key] = record[key];
  }
  return picked as T;
}
