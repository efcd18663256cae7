/** What was issued: an RFC 9068 access token or an API-key grant. */
export type IssuedKind = "access_token" | "grant";

/**
 * What the domain reports as it issues and revokes, whichever transport
 * asked: the metrics subscribe (observability/metrics.ts), so no transport
 * has to guess from a method name or a path what a call did.
 */
export interface TokenEvents {
  tokenIssued(kind: IssuedKind): void;
  /** A revocation request succeeded (RFC 7009 §2.2: also for an unknown, expired or foreign token). */
  revoked(): void;
}
