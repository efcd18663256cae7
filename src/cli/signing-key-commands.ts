import { toJson } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { RotateSigningKeyResponseSchema, SigningKeyInfoSchema, type SigningKeyInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { usageError } from "./cli-failure.js";
import { CONNECTION_USAGE, noPositionals, parseCommand } from "./command-line.js";
import { adminCall, connectAdmin } from "./connection.js";
import { formatTable, jsonText as json, timeText } from "./text-output.js";

export const SIGNING_KEY_USAGE = `usage: tokensmith keys <command> [options]

commands:
  list                      the signing key ring: which key signs, which are published, when each retires
  rotate                    add a new key: published in the JWKS now, signing after the publish delay
                            (signingKeys.publishDelaySeconds); the current key retires once the last
                            token it signed has expired (maxTokenLifetimeSeconds later)

${CONNECTION_USAGE}
`;


/** One word for where a key is in its life, as of `now`. */
function stateOf(key: SigningKeyInfo, now: number): string {
  if (!key.published) return "retired";
  if (key.active) return key.retireTime === undefined ? "signing" : "signing, retiring";
  if (key.signStartTime !== undefined && timestampMs(key.signStartTime) > now) return "published, signs later";
  return key.retireTime === undefined ? "published" : "retiring";
}

function keyTable(keys: SigningKeyInfo[]): string {
  const now = Date.now();
  return formatTable(
    ["KID", "ALG", "STATE", "SIGNS FROM", "RETIRES", "CREATED"],
    keys.map((key) => [key.kid, key.alg, stateOf(key, now), timeText(key.signStartTime), timeText(key.retireTime), timeText(key.createTime)]),
  );
}

export async function runSigningKeyCommand(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const [command, ...rest] = args;
  switch (command) {
    case "list": {
      const { positionals, connection, json: asJson } = parseCommand(rest, {}, SIGNING_KEY_USAGE, env);
      noPositionals(positionals, SIGNING_KEY_USAGE);
      const admin = await connectAdmin(connection);
      const { keys } = await adminCall(connection, "list the signing keys", () => admin.listSigningKeys({}));
      if (asJson) return json({ keys: keys.map((key) => toJson(SigningKeyInfoSchema, key, { alwaysEmitImplicit: true })) });
      return keyTable(keys);
    }
    case "rotate": {
      const { positionals, connection, json: asJson } = parseCommand(rest, {}, SIGNING_KEY_USAGE, env);
      noPositionals(positionals, SIGNING_KEY_USAGE);
      const admin = await connectAdmin(connection);
      const rotated = await adminCall(connection, "rotate the signing key", () => admin.rotateSigningKey({}));
      if (asJson) return json(toJson(RotateSigningKeyResponseSchema, rotated, { alwaysEmitImplicit: true }));
      const { keys } = await adminCall(connection, "list the signing keys", () => admin.listSigningKeys({}));
      const key = rotated.key!;
      return `new signing key ${key.kid} (${key.alg}): in the JWKS now, signs from ${timeText(key.signStartTime)}\n\n${keyTable(keys)}`;
    }
    case undefined:
      throw usageError("missing the keys command", SIGNING_KEY_USAGE);
    default:
      throw usageError(`unknown keys command "${command}"`, SIGNING_KEY_USAGE);
  }
}
