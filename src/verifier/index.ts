/**
 * `tokensmith/verifier`: for resource servers that verify Tokensmith's
 * access tokens locally (signature, issuer, audience, lifetime from the
 * JWKS) and still refuse revoked ones within about one feed poll, by
 * following WatchRevocations. See the README, "Verifying tokens in a
 * resource server".
 */
export { createVerifier, type InactiveReason, type VerifiedClaims, type Verifier, type VerifierOptions, type VerifierStatus, type VerifyResult } from "./verifier.js";
export { verifierInterceptor, verifierMiddleware, verifiedClaimsKey, type AuthenticatedRequest, type GuardOptions } from "./guards.js";
