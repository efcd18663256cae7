import { expect } from "vitest";
import { TokenSourceError } from "../../src/client/index.js";

/** A clock the test moves by hand, for the token sources' renewal. */
export class FakeClock {
  constructor(public current = Date.UTC(2026, 0, 1)) {}
  now = () => this.current;
  advance(ms: number) {
    this.current += ms;
  }
}

/** The TokenSourceError the promise rejects with (and the test fails if it resolves or rejects with anything else). */
export async function failure(promise: Promise<unknown>): Promise<TokenSourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenSourceError);
  return error as TokenSourceError;
}
