/** How many headers each authenticator remembers; past that it starts over. */
const MAX_REMEMBERED_HEADERS = 10_000;

/**
 * Authorization headers that authenticated, each with what it authenticated
 * (a client, an API key). A service sends the same header with every call;
 * a remembered header skips decoding and hashing, but only while the
 * registry still answers for it with the very same object: registries hand
 * out one object per cached record and a new one after any change (a
 * rotation, an expiring secret, a deletion, a fresh read from the store), so
 * identity means nothing about the credential changed. Only headers that
 * passed the full check are kept, so a wrong secret is always checked and
 * counted.
 */
export class RememberedHeaders<T extends object> {
  private readonly entries = new Map<string, T>();

  constructor(
    /** The registry's in-memory answer for an id (see ClientRegistry.peek). */
    private readonly current: (id: string) => T | null | undefined,
    private readonly idOf: (value: T) => string,
  ) {}

  get(header: string): T | undefined {
    const value = this.entries.get(header);
    if (value === undefined || this.current(this.idOf(value)) !== value) return undefined;
    return value;
  }

  /** Keeps `header` for `value`, if the registry can vouch for it by identity. */
  remember(header: string, value: T): void {
    if (this.current(this.idOf(value)) !== value) return;
    if (this.entries.size >= MAX_REMEMBERED_HEADERS) this.entries.clear();
    this.entries.set(header, value);
  }
}
