import { describe, expect, it } from "vitest";
import { CliFailure, ExitCode } from "../../src/cli/cli-failure.js";
import { parseCommand } from "../../src/cli/command-line.js";

/**
 * parseCommand: the commands take ids that may begin with "-" (a token's
 * base64url jti, a signing key's thumbprint). The CLI has no short options, so
 * such an argument is a value, as an argument or after a flag that takes one.
 */

const OPTIONS = { id: { type: "string" }, name: { type: "string" }, all: { type: "boolean" } } as const;
const ENV = { TOKENSMITH_CLIENT_ID: "admin", TOKENSMITH_CLIENT_SECRET: "secret" };
const parse = (args: string[]) => parseCommand(args, OPTIONS, "usage: test", ENV);

function usageFailure(args: string[]): CliFailure {
  try {
    parse(args);
  } catch (error) {
    expect(error).toBeInstanceOf(CliFailure);
    expect((error as CliFailure).exitCode).toBe(ExitCode.usage);
    return error as CliFailure;
  }
  throw new Error(`parse(${JSON.stringify(args)}) succeeded`);
}

describe("parseCommand", () => {
  it.each([
    [["-O1lNZi8UEsmTW9ZIQFuzA"], {}, ["-O1lNZi8UEsmTW9ZIQFuzA"]],
    [["--id", "-O1lNZi8UEsmTW9ZIQFuzA"], { id: "-O1lNZi8UEsmTW9ZIQFuzA" }, []],
    [["--id=-O1lNZi8UEsmTW9ZIQFuzA"], { id: "-O1lNZi8UEsmTW9ZIQFuzA" }, []],
    [["--name", "-x", "--all", "a"], { name: "-x", all: true }, ["a"]],
    [["-b", "a", "--all", "-c"], { all: true }, ["-b", "a", "-c"]],
    [["--all", "--", "--id", "-z"], { all: true }, ["--id", "-z"]],
    [["-"], {}, ["-"]],
    // One base64url jti in 4,096 begins with "--": spelled unlike any flag (capitals, digits, '_'), it is a value too.
    [["--Q7kT_x0bZ3e9LwHn2vYpA"], {}, ["--Q7kT_x0bZ3e9LwHn2vYpA"]],
    [["--id", "--Q7kT_x0bZ3e9LwHn2vYpA", "--all"], { id: "--Q7kT_x0bZ3e9LwHn2vYpA", all: true }, []],
    [["--all", "--Q7kT_x0bZ3e9LwHn2vYpA", "a"], { all: true }, ["--Q7kT_x0bZ3e9LwHn2vYpA", "a"]],
  ])("%j: values %j, arguments %j in order", (args, values, positionals) => {
    const parsed = parse(args);
    expect(parsed.values).toMatchObject(values);
    expect(parsed.positionals).toEqual(positionals);
  });

  it("a flag that takes a value and is followed by another flag, or by nothing, is a usage error naming it", () => {
    expect(usageFailure(["--id", "--all"]).message).toMatch(/--id/);
    expect(usageFailure(["--id"]).message).toMatch(/--id/);
  });

  it("an unknown flag is still a usage error naming it, before or after a value beginning with \"-\"", () => {
    expect(usageFailure(["--frobnicate"]).message).toBe("unknown option --frobnicate");
    expect(usageFailure(["-abc", "--frobnicate", "x"]).message).toBe("unknown option --frobnicate");
    expect(usageFailure(["--frobnicate=x"]).message).toBe("unknown option --frobnicate");
    expect(usageFailure(["--id", "--frobnicate"]).message).toMatch(/--id/);
  });

  it("the connection flags still parse, whatever the order", () => {
    const parsed = parse(["-k1", "--url", "http://127.0.0.1:1", "--json"]);
    expect(parsed.connection.url).toBe("http://127.0.0.1:1");
    expect(parsed.json).toBe(true);
    expect(parsed.positionals).toEqual(["-k1"]);
  });
});
