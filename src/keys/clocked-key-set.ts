import { createLocalJWKSet, errors, type FetchImplementation, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import type { Clock } from "../domain/clock.js";

export interface ClockedKeySetTimes {
  /** A fetched set is used this long, then fetched again. */
  cacheMs: number;
  /** A token naming an unknown kid fetches the set again at most this often (and a failed fetch is not retried sooner). */
  cooldownMs: number;
  /** The whole fetch. */
  timeoutMs: number;
}

export const DEFAULT_KEY_SET_TIMES: ClockedKeySetTimes = { cacheMs: 600_000, cooldownMs: 30_000, timeoutMs: 2000 };

/**
 * A remote JWK Set as jose's createRemoteJWKSet keeps one, but timed by the
 * domain's clock rather than the wall's, so that its cache and its refetch
 * cooldown move with the rest of the server (and tests can move them). One
 * fetch at a time; concurrent verifications wait for it.
 */
export function clockedKeySet(uri: string, fetchJwks: FetchImplementation, clock: Clock, times: ClockedKeySetTimes = DEFAULT_KEY_SET_TIMES): JWTVerifyGetKey {
  let keys: JWTVerifyGetKey | undefined;
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | undefined;
  const fetchSet = async (): Promise<void> => {
    fetchedAt = clock.now();
    const response = await fetchJwks(uri, { headers: new Headers({ accept: "application/json" }), method: "GET", redirect: "manual", signal: AbortSignal.timeout(times.timeoutMs) });
    const body: unknown = await response.json();
    keys = createLocalJWKSet(body as JSONWebKeySet);
  };
  const refetch = (): Promise<void> => (pending ??= fetchSet().finally(() => (pending = undefined)));
  const since = () => clock.now() - fetchedAt;

  return async (header, token) => {
    if (keys === undefined || since() >= times.cacheMs) {
      if (pending !== undefined || since() >= times.cooldownMs) await refetch();
      if (keys === undefined) throw new errors.JWKSNoMatchingKey();
    }
    try {
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || since() < times.cooldownMs) throw error;
      await refetch();
      return keys(header, token);
    }
  };
}
