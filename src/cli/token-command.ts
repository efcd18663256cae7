import { toJson } from "@bufbuild/protobuf";
import { IssueClientTokenResponseSchema } from "../../gen/tokensmith/v1/token_service_pb.js";
import { CONNECTION_USAGE, listFlag, noPositionals, parseCommand } from "./command-line.js";
import { issueClientToken } from "./connection.js";

export const TOKEN_USAGE = `usage: tokensmith token [--scopes a,b] [--audiences x,y] [--json]

Gets an access token with the client credentials grant and prints just the token
(for scripts: TOKEN=$(tokensmith token --scopes orders:read)), or with --json the
whole response (accessToken, tokenType, expiresIn, scopes).
No --scopes: every scope the client may have.

${CONNECTION_USAGE}
`;

export async function runTokenCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const options = { scopes: { type: "string", multiple: true }, audiences: { type: "string", multiple: true } } as const;
  const { values, positionals, connection, json } = parseCommand(args, options, TOKEN_USAGE, env);
  noPositionals(positionals, TOKEN_USAGE);
  const issued = await issueClientToken(connection, { scopes: listFlag(values.scopes) ?? [], audience: listFlag(values.audiences) ?? [] });
  if (json) return `${JSON.stringify(toJson(IssueClientTokenResponseSchema, issued, { alwaysEmitImplicit: true }), null, 2)}\n`;
  return `${issued.accessToken}\n`;
}
