/**
 * What an audit event records: a change made through the AdminService, or a
 * security event. In a module of its own: the console (a browser bundle) lists them too.
 */
export const AUDIT_KINDS = [
  "client.created",
  "client.updated",
  "client.deleted",
  "client.secret_rotated",
  "tokens.revoked",
  "api_key.created",
  "api_key.updated",
  "api_key.deleted",
  "signing_key.rotated",
  "trusted_issuer.created",
  "trusted_issuer.deleted",
  "access_token.created",
  "access_token.revoked",
  "tenant.created",
  "tenant.updated",
  "tenant.deleted",
  "peer.locked_out",
  "admin.denied",
] as const;

export type AuditKind = (typeof AUDIT_KINDS)[number];
