import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";

/** Awaits `call`, expecting a ConnectError with `code` and the OAuth error in its detail. */
export async function expectRpcError(
  call: Promise<unknown>,
  code: Code,
  oauthError: string,
  messageMatch?: RegExp | string,
): Promise<ConnectError> {
  let caught: unknown;
  try {
    await call;
  } catch (error) {
    caught = error;
  }
  expect(caught, "the call should have failed").toBeInstanceOf(ConnectError);
  const error = caught as ConnectError;
  expect(Code[error.code]).toBe(Code[code]);
  expect(error.findDetails(OAuthErrorDetailSchema).map((detail) => detail.error)).toEqual([oauthError]);
  if (messageMatch !== undefined) expect(error.rawMessage).toMatch(messageMatch);
  return error;
}
