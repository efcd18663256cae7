import { invalidScope, malformedScope } from "./oauth-error.js";

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export const SCOPE_LIMITS = { maxLength: 128, maxCount: 100 } as const;

/** What a Bearer token must carry to call the AdminService (and what the CLI and the console ask for). */
export const ADMIN_SCOPE = "tokensmith:admin";

/** What a Bearer token of a default-tenant client must carry to create, change or delete tenants (platform administration). */
export const TENANTS_SCOPE = "tokensmith:tenants";

/** Reading any token of the tenant: introspection, and the revocation watch (the verifier's). */
export const INTROSPECT_SCOPE = "token:introspect";

/** Spending a grant that another API key asked for (`consume`). */
export const GRANT_CONSUME_SCOPE = "grant:consume";

/** Revoking any token of the tenant, not only the caller's own. */
export const REVOKE_SCOPE = "token:delete";

/** On an API key: asking for ExternalVerify grants. */
export const EXTERNAL_VERIFY_SCOPE = "external:verify";

/**
 * The scopes that give power over Tokensmith itself or over other callers'
 * tokens, with what each allows (the console marks them and asks before
 * giving one).
 */
export const PRIVILEGED_SCOPES: Readonly<Record<string, string>> = {
  [ADMIN_SCOPE]: "administers the tenant: its clients, API keys and signing keys",
  [TENANTS_SCOPE]: "creates, changes and deletes tenants (a default-tenant client: platform administrator)",
  [INTROSPECT_SCOPE]: "reads every token of the tenant (introspection, revocation watch)",
  [REVOKE_SCOPE]: "revokes any token of the tenant, not only its own",
  [GRANT_CONSUME_SCOPE]: "spends grants that other API keys asked for",
};

/** The scopes Tokensmith itself gives a meaning to. */
export const BUILT_IN_SCOPES: readonly string[] = [...Object.keys(PRIVILEGED_SCOPES), EXTERNAL_VERIFY_SCOPE];

export function isScopeToken(value: string): boolean {
  return value.length <= SCOPE_LIMITS.maxLength && SCOPE_TOKEN.test(value);
}

/** Splits an RFC 6749 space-delimited scope parameter. */
export function parseScopeParameter(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(" ").filter((part) => part.length > 0);
}

/** Checks syntax and size of a requested scope list; returns it de-duplicated, order kept. */
export function normalizeScopes(requested: readonly string[], what = "scope"): string[] {
  if (requested.length > SCOPE_LIMITS.maxCount) {
    throw malformedScope(`too many ${what}s: at most ${SCOPE_LIMITS.maxCount}`);
  }
  for (const scope of requested) {
    if (!isScopeToken(scope)) {
      throw malformedScope(
        `malformed ${what}: each must be 1-${SCOPE_LIMITS.maxLength} printable ASCII characters without spaces, quotes or backslashes`,
      );
    }
  }
  return [...new Set(requested)];
}

/**
 * The scopes to grant: every requested scope must be allowed; none requested
 * means all allowed scopes.
 */
export function grantScopes(requested: readonly string[], allowed: readonly string[], what = "scope"): string[] {
  const wanted = normalizeScopes(requested, what);
  if (wanted.length === 0) return [...allowed];
  const allowedSet = new Set(allowed);
  const refused = wanted.filter((scope) => !allowedSet.has(scope));
  if (refused.length > 0) {
    throw invalidScope(`${what} not allowed: ${refused.join(" ")}`);
  }
  return wanted;
}
