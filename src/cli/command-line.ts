import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { usageError } from "./cli-failure.js";
import { resolveConnection, type Connection } from "./connection.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Flags every command that talks to a server accepts. */
export const CONNECTION_OPTIONS = {
  url: { type: "string" },
  "client-id": { type: "string" },
  "client-secret": { type: "string" },
  tenant: { type: "string" },
  json: { type: "boolean", default: false },
} as const satisfies Options;

export const CONNECTION_USAGE = `connection (flags, else environment):
  --url URL                 $TOKENSMITH_URL, default http://127.0.0.1:8080
  --client-id ID            $TOKENSMITH_CLIENT_ID
  --client-secret SECRET    $TOKENSMITH_CLIENT_SECRET (prefer the variable: flags show in ps)
  --tenant ID               $TOKENSMITH_TENANT: act in that tenant (its <url>/t/ID URLs), with a
                            client of that tenant; default: the default tenant
  --json                    print the response as JSON (protobuf JSON mapping) for scripts`;

/** How every flag of the CLI is spelled: a jti or a thumbprint beginning with "--" (one in 4,096) almost never is. */
const FLAG_SPELLING = /^--[a-z][a-z-]*(=|$)/;

/**
 * Whether `arg` is a flag: it names one of `options`, or is spelled like one
 * (so that a mistyped flag is still reported as an unknown option).
 */
function isFlag(arg: string, options: Options): boolean {
  if (!arg.startsWith("--")) return false;
  const name = arg.slice(2).split("=", 1)[0]!;
  return Object.hasOwn(options, name) || FLAG_SPELLING.test(arg);
}

/**
 * The arguments with every value, in order, after a `--`, so that parseArgs reads none of them as flags.
 * Ids may begin with "-", even "--" (a token's base64url jti, a key's thumbprint) and the CLI has no
 * short options: an argument that is not a flag (isFlag) is a value, and so is the one after a flag
 * that takes a value unless it is itself a flag.
 */
function valuesLast(args: string[], options: Options): string[] {
  const flags: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      values.push(...args.slice(i + 1));
      break;
    }
    if (!isFlag(arg, options)) {
      values.push(arg);
      continue;
    }
    const next = args[i + 1];
    const takesValue = !arg.includes("=") && Object.hasOwn(options, arg.slice(2)) && options[arg.slice(2)]!.type === "string";
    if (takesValue && next !== undefined && next !== "--" && !isFlag(next, options)) {
      flags.push(`${arg}=${next}`);
      i++;
    } else {
      flags.push(arg);
    }
  }
  return [...flags, "--", ...values];
}

/** Parses a subcommand's flags (plus the connection flags); any mistake is a usage error with `usage`. */
export function parseCommand<const O extends Options>(args: string[], options: O, usage: string, env: NodeJS.ProcessEnv) {
  const allOptions = { ...CONNECTION_OPTIONS, ...options };
  let parsed;
  try {
    parsed = parseArgs({ args: valuesLast(args, allOptions), options: allOptions, allowPositionals: true, strict: true });
  } catch (error) {
    const unknown = /^Unknown option '([^']+)'/.exec((error as Error).message);
    throw usageError(unknown === null ? (error as Error).message : `unknown option ${unknown[1]}`, usage);
  }
  const { values, positionals } = parsed;
  const connection: Connection = resolveConnection(values as { url?: string; "client-id"?: string; "client-secret"?: string; tenant?: string }, env);
  return { values, positionals, connection, json: (values as { json?: boolean }).json === true };
}

/** The one name a command acts on, as a positional argument or a flag (not both, not neither). */
export function requireName(flag: string | undefined, positionals: string[], what: string, flagName: string, usage: string): string {
  if (positionals.length > 1) throw usageError(`unexpected arguments: ${positionals.slice(1).join(" ")}`, usage);
  const positional = positionals[0];
  if (flag !== undefined && positional !== undefined && flag !== positional) {
    throw usageError(`give the ${what} once: as an argument or with ${flagName}`, usage);
  }
  const name = flag ?? positional;
  if (name === undefined || name === "") throw usageError(`missing the ${what} (an argument or ${flagName})`, usage);
  return name;
}

export function noPositionals(positionals: string[], usage: string): void {
  if (positionals.length > 0) throw usageError(`unexpected arguments: ${positionals.join(" ")}`, usage);
}

/** `--scopes a,b --scopes "c d"` → [a, b, c, d]; `--scopes ""` → [] (to clear a list). */
export function listFlag(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  return values.flatMap((value) => value.split(/[\s,]+/)).filter((item) => item.length > 0);
}

const DURATION_UNITS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds from `90`, `90s`, `15m`, `1h` or `30d`. */
export function durationFlag(value: string | undefined, flagName: string, usage: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (match === null) throw usageError(`${flagName} must be a duration such as 3600, 90s, 15m, 1h or 30d, not "${value}"`, usage);
  const seconds = Number(match[1]) * DURATION_UNITS[match[2] ?? ""]!;
  if (!Number.isSafeInteger(seconds)) throw usageError(`${flagName} is too large`, usage);
  return seconds;
}

/** The text of the JWK Set file --jwks-file names; the server checks what it holds. */
export function readJwksFile(path: string | undefined, usage: string): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw usageError(`cannot read --jwks-file ${path}: ${(error as Error).message}`, usage);
  }
}
