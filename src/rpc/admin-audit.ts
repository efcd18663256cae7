import type { HandlerContext } from "@connectrpc/connect";
import type { Administration } from "../domain/administration.js";
import type { AuditActor, AuditKind, AuditTrail } from "../domain/audit-trail.js";
import { OAuthError } from "../domain/oauth-error.js";
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

/**
 * Runs an AdminService authorization; a refusal of a token in force here (it
 * lacks the scope) is recorded as admin.denied, the call's method as the
 * target, before the refusal goes back unchanged. A caller that is no one
 * (no token, an invalid one) is not recorded: the failed-authentication
 * limits and peer.locked_out are for those. A failure to record is logged
 * by the trail's log line and never replaces the refusal. Once per client
 * and method per minute on an instance (Administration.admitDenied): the
 * repeats in between are neither stored nor logged, and the next one
 * recorded counts them in its `suppressed` detail.
 */
export async function recordingRefusal<T>(admin: Administration, context: HandlerContext, authorize: () => Promise<T>): Promise<T> {
  try {
    return await authorize();
  } catch (error) {
    if (error instanceof OAuthError && error.kind === "permission_denied") {
      // The refusal names the client of the token in force that lacked the scope (none for a token not in force).
      const clientId = error.clientId;
      const admitted = clientId === undefined ? undefined : admin.admitDenied(clientId, context.method.name);
      if (clientId !== undefined && admitted !== undefined) {
        const record = auditOfCall(admin.auditTrail, context, { clientId, tenant: admin.auditTrail.tenant });
        const details = { reason: error.description.slice(0, 200), ...(admitted.heldBack > 0 ? { suppressed: String(admitted.heldBack) } : {}) };
        await record("admin.denied", context.method.name, details).catch(() => undefined);
      }
    }
    throw error;
  }
}
