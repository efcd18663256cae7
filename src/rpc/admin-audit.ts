import type { HandlerContext } from "@connectrpc/connect";
import type { AuditActor, AuditKind, AuditTrail } from "../domain/audit-trail.js";
import { peerKey } from "./call-context.js";

/**
 * Records one audit event of the AdminService call it was made for: the
 * actor, peer and request id are the call's. A handler calls it once its
 * change has succeeded (see AuditTrail for the order), with what it changed
 * and non-secret details (field names, scopes): never a secret or a token.
 */
export type RecordAudit = (kind: AuditKind, target: string, details?: Readonly<Record<string, string>>) => Promise<void>;

/** The RecordAudit of one call, into `trail` (the trail of the tenant acted in). */
export function auditOfCall(trail: AuditTrail, context: HandlerContext, actor: AuditActor): RecordAudit {
  const peer = context.values.get(peerKey);
  const requestId = context.requestHeader.get("x-request-id") ?? undefined;
  return async (kind, target, details) => {
    await trail.record({ kind, actor, target, ...(peer !== undefined ? { peer } : {}), ...(requestId !== undefined ? { requestId } : {}), ...(details ? { details } : {}) });
  };
}
