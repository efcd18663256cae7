import { importJWK, type CryptoKey, type JWK } from "jose";

/** A JWKS larger than this is refused: Tokensmith publishes a handful of keys. */
const MAX_JWKS_BYTES = 256 * 1024;
const ALGORITHMS = new Set(["EdDSA", "Ed25519", "ES256"]);

export interface KeySetOptions {
  jwksUri: string;
  /** The fewest ms between two fetches that an unknown `kid` can cause (a stream of forged kids costs one fetch per interval). */
  minRefetchMs: number;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/**
 * The issuer's public keys by kid, from its JWKS: fetched at start, again
 * (rate-limited, one fetch at a time) when a token names an unknown kid or
 * the revocation feed names a key not held, and pruned to the keys the feed
 * says are published, so a retired key stops verifying at once.
 */
export class KeySet {
  private readonly keys = new Map<string, { key: CryptoKey; alg: string }>();
  /** Kids the feed has retired: a JWKS fetched before the retirement (still in flight, or cached on the way) must not bring them back. */
  private readonly retired = new Set<string>();
  private lastFetchAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private scheduled: NodeJS.Timeout | undefined;

  constructor(private readonly options: KeySetOptions) {}

  get(kid: string): { key: CryptoKey; alg: string } | undefined {
    return this.keys.get(kid);
  }

  has(kid: string): boolean {
    return this.keys.has(kid);
  }

  get kids(): string[] {
    return [...this.keys.keys()];
  }

  /** Fetches the JWKS now (coalesced with a fetch under way); rejects when it cannot be read. */
  load(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Fetches again unless a fetch ended less than `minRefetchMs` ago; never rejects. Resolves whether it fetched. */
  async refresh(): Promise<boolean> {
    if (this.inflight === undefined && performance.now() - this.lastFetchAt < this.options.minRefetchMs) return false;
    try {
      await this.load();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Fetches as soon as the rate limit allows (now, or at the end of the
   * interval; coalesced), for a key the revocation feed says is published:
   * rotation publishes a key well before it signs, so waiting is harmless.
   */
  refreshSoon(onError: (error: unknown) => void): void {
    if (this.scheduled !== undefined) return;
    const wait = Math.max(0, this.options.minRefetchMs - (performance.now() - this.lastFetchAt));
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      this.load().catch(onError);
    }, wait);
    this.scheduled.unref();
  }

  close(): void {
    clearTimeout(this.scheduled);
    this.scheduled = undefined;
  }

  /** Keeps only the keys published now (as the revocation feed says); says whether some published kid is not held yet. */
  retain(publishedKids: readonly string[]): boolean {
    const published = new Set(publishedKids);
    for (const kid of this.keys.keys()) {
      if (published.has(kid)) continue;
      this.keys.delete(kid);
      this.retired.add(kid);
    }
    return publishedKids.some((kid) => !this.keys.has(kid));
  }

  private async fetchKeys(): Promise<void> {
    const fetchImpl = this.options.fetch ?? fetch;
    try {
      const response = await fetchImpl(this.options.jwksUri, { signal: AbortSignal.timeout(this.options.timeoutMs), redirect: "error" });
      if (!response.ok) throw new Error(`JWKS ${this.options.jwksUri} answered ${response.status}`);
      const text = await response.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error(`JWKS ${this.options.jwksUri} is larger than ${MAX_JWKS_BYTES} bytes`);
      const body = JSON.parse(text) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error(`JWKS ${this.options.jwksUri} has no "keys" array`);
      const fetched = new Map<string, { key: CryptoKey; alg: string }>();
      for (const jwk of body.keys as JWK[]) {
        if (typeof jwk?.kid !== "string" || typeof jwk.alg !== "string" || !ALGORITHMS.has(jwk.alg) || (jwk.use !== undefined && jwk.use !== "sig")) continue;
        fetched.set(jwk.kid, { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, alg: jwk.alg });
      }
      this.keys.clear();
      for (const [kid, entry] of fetched) if (!this.retired.has(kid)) this.keys.set(kid, entry);
    } finally {
      this.lastFetchAt = performance.now();
    }
  }
}
