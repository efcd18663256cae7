/**
 * The revocations a resource server must honour, in memory: revoked token
 * ids until their token expires, and per client the instant before which
 * every token it was issued is revoked. Entries leave with the tokens they
 * cover, so memory tracks the revocations in force, not their history; a
 * lookup is one or two hash probes whatever the number held.
 */
export class RevocationSet {
  /** jti → the revoked token's `exp` (seconds). */
  private readonly jtis = new Map<string, number>();
  /** exp second → the jtis that stop mattering then: sweeping visits only what is due. */
  private readonly byExpiry = new Map<number, string[]>();
  /** client_id → issued_before_ms (exclusive). */
  private readonly cutoffs = new Map<string, number>();

  /** @param graceSeconds how long after its `exp` a token is still accepted (the verifier's clock skew): entries stay that long too. */
  constructor(private readonly graceSeconds: number) {}

  get size(): number {
    return this.jtis.size;
  }

  get clientCutoffs(): number {
    return this.cutoffs.size;
  }

  revokeToken(jti: string, exp: number, nowSeconds: number): void {
    if (exp + this.graceSeconds <= nowSeconds || this.jtis.has(jti)) return;
    this.jtis.set(jti, exp);
    const second = Math.ceil(exp);
    const due = this.byExpiry.get(second);
    if (due === undefined) this.byExpiry.set(second, [jti]);
    else due.push(jti);
  }

  /** A later cut-off replaces an earlier one; an earlier one (a replayed event) changes nothing. */
  revokeClient(clientId: string, issuedBeforeMs: number): void {
    if (issuedBeforeMs > (this.cutoffs.get(clientId) ?? Number.NEGATIVE_INFINITY)) this.cutoffs.set(clientId, issuedBeforeMs);
  }

  /** Replaces everything held (a snapshot says all that is in force). */
  replace(tokens: Iterable<{ jti: string; exp: number }>, cutoffs: Iterable<{ clientId: string; issuedBeforeMs: number }>, nowSeconds: number): void {
    this.jtis.clear();
    this.byExpiry.clear();
    this.cutoffs.clear();
    for (const { jti, exp } of tokens) this.revokeToken(jti, exp, nowSeconds);
    for (const { clientId, issuedBeforeMs } of cutoffs) this.revokeClient(clientId, issuedBeforeMs);
  }

  /** Whether the token with this `jti` itself is revoked (not its client's cut-off). */
  isRevokedToken(jti: string): boolean {
    return this.jtis.has(jti);
  }

  isRevoked(jti: string, clientId: string, issuedAtMs: number): boolean {
    if (this.jtis.has(jti)) return true;
    const cutoff = this.cutoffs.get(clientId);
    return cutoff !== undefined && issuedAtMs < cutoff;
  }

  /** Forgets the revocations of tokens that can no longer be accepted anyway. */
  sweep(nowSeconds: number): void {
    const limit = nowSeconds - this.graceSeconds;
    for (const [second, due] of this.byExpiry) {
      if (second > limit) continue;
      for (const jti of due) this.jtis.delete(jti);
      this.byExpiry.delete(second);
    }
  }
}
