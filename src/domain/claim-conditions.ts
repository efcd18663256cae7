/**
 * A subject mapping's claim conditions as an administrator types them
 * (`name=value` each), for CreateTrustedIssuer. Collected in a Map, not as
 * an object's members: `claims["__proto__"] = value` would drop that
 * condition without a word (the server refuses the name), and a claim given
 * twice is refused, since the later would replace the earlier and a
 * condition would be gone.
 */
export function claimConditions(conditions: readonly string[]): { claims: Record<string, string> } | { malformed: string } | { repeated: string } {
  const claims = new Map<string, string>();
  for (const condition of conditions) {
    const equals = condition.indexOf("=");
    if (equals < 1) return { malformed: condition };
    const claim = condition.slice(0, equals);
    if (claims.has(claim)) return { repeated: claim };
    claims.set(claim, condition.slice(equals + 1));
  }
  return { claims: Object.fromEntries(claims) };
}
