import { Code, ConnectError } from "@connectrpc/connect";
import { OAuthErrorDetailSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { terminalText } from "./text-output.js";

/** The exit codes scripts can branch on; documented in the usage text and the README. */
export const ExitCode = {
  ok: 0,
  /** Anything not covered below: a server-side internal error, a bug. */
  failure: 1,
  usage: 2,
  /** Bad or missing admin credentials, or a caller without the needed scope. */
  auth: 3,
  /** Not found, already exists, invalid input, read-only (config-declared) resource. */
  rejected: 4,
  /** The server cannot be reached, or answers that it is unavailable. */
  unavailable: 5,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports as one line on stderr and an exit code; never a stack trace. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    /** Printed after the message for usage errors: the synopsis of the command that was misused. */
    readonly usage?: string,
  ) {
    super(message);
    this.name = "CliFailure";
  }
}

export const usageError = (message: string, usage?: string) => new CliFailure(message, ExitCode.usage, usage);

/** What the node networking layer says, in words a shell user knows. */
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the server",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed (temporary DNS failure)",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EPIPE: "connection closed by the server",
  EPROTO: "TLS handshake failed (is the URL's scheme right?)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate cannot be verified",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate does not match the host name",
};

/** The first node error code in the cause chain that names a network failure. */
function networkReason(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let current = error; current instanceof Error && !seen.has(current); current = current.cause) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code in NETWORK_REASONS) return NETWORK_REASONS[code];
  }
  return undefined;
}

/** Where a failed call was made, so the message can say what to check. */
export interface CallContext {
  url: string;
  /** "authenticate client \"admin\"" or "create client \"orders\"": what the CLI was doing. */
  action: string;
  /** Added to Unauthenticated failures: which flags or variables to check. */
  unauthenticatedHint?: string;
  /** Added to PermissionDenied failures: what the caller lacks. */
  permissionHint?: string;
}

const CODE_TO_EXIT: Partial<Record<Code, ExitCodeValue>> = {
  [Code.Unauthenticated]: ExitCode.auth,
  [Code.PermissionDenied]: ExitCode.auth,
  [Code.NotFound]: ExitCode.rejected,
  [Code.AlreadyExists]: ExitCode.rejected,
  [Code.InvalidArgument]: ExitCode.rejected,
  [Code.FailedPrecondition]: ExitCode.rejected,
  [Code.OutOfRange]: ExitCode.rejected,
  [Code.Unavailable]: ExitCode.unavailable,
  [Code.DeadlineExceeded]: ExitCode.unavailable,
  [Code.ResourceExhausted]: ExitCode.unavailable,
  [Code.Unimplemented]: ExitCode.unavailable,
};

const hint = (text: string | undefined) => (text ? `\n${text}` : "");

/** Turns a failed RPC into a message a shell user can act on, with the exit code for its kind. */
export function failureOfCall(error: unknown, context: CallContext): CliFailure {
  if (error instanceof CliFailure) return error;
  const network = networkReason(error);
  if (network !== undefined) return new CliFailure(`cannot reach Tokensmith at ${context.url}: ${network}`, ExitCode.unavailable);
  const connectError = ConnectError.from(error);
  const exitCode = CODE_TO_EXIT[connectError.code] ?? ExitCode.failure;
  const oauthError = connectError.findDetails(OAuthErrorDetailSchema)[0]?.error;
  // The server's message may quote stored text (a name): shown, never obeyed.
  const reason = terminalText(`${connectError.rawMessage}${oauthError ? ` (${oauthError})` : ""}`);
  switch (connectError.code) {
    case Code.Unauthenticated:
      return new CliFailure(`cannot ${context.action}: ${reason}${hint(context.unauthenticatedHint)}`, exitCode);
    case Code.PermissionDenied:
      return new CliFailure(`cannot ${context.action}: ${reason}${hint(context.permissionHint)}`, exitCode);
    case Code.DeadlineExceeded:
      return new CliFailure(`Tokensmith at ${context.url} did not answer in time (${context.action})`, exitCode);
    case Code.Unimplemented:
      return new CliFailure(`the server at ${context.url} does not serve this Tokensmith API (is --url right?): ${terminalText(connectError.rawMessage)}`, exitCode);
    case Code.Unavailable:
    case Code.ResourceExhausted:
      return new CliFailure(`Tokensmith at ${context.url} is unavailable, try again shortly: ${reason}`, exitCode);
    default:
      return new CliFailure(`cannot ${context.action}: ${reason}`, exitCode);
  }
}
