import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import { generateSecret, hashSecret } from "../src/domain/secret-format.js";

/**
 * An admin client declared by the environment (TOKENSMITH_ADMIN_CLIENT_ID and
 * TOKENSMITH_ADMIN_CLIENT_SECRET_HASH), for deployments configured by an env
 * file (docker-compose.yml): a config client allowed tokensmith:admin only,
 * read-only like every client of the config file.
 */

const secret = generateSecret("client_secret");
const hash = hashSecret(secret);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokensmith-admin-env-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function loadError(env: NodeJS.ProcessEnv, path?: string): ConfigError {
  let error: unknown;
  try {
    loadConfig(env, path);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe("an admin client from the environment", () => {
  it("with both variables: a client of that id, its secret hash and the scope tokensmith:admin", () => {
    const config = loadConfig({ TOKENSMITH_ADMIN_CLIENT_ID: "ops-admin", TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: hash });
    expect(config.clients).toEqual([expect.objectContaining({ id: "ops-admin", secretHashes: [hash], scopes: ["tokensmith:admin"] })]);
  });

  it("is added to the clients of the config file", async () => {
    const path = join(dir, "clients.yaml");
    await writeFile(path, `clients:\n  - id: billing\n    secretHashes: ["${hash}"]\n    scopes: [orders:read]\n`);
    const config = loadConfig({ TOKENSMITH_ADMIN_CLIENT_ID: "ops-admin", TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: hash }, path);
    expect(config.clients.map((client) => client.id)).toEqual(["billing", "ops-admin"]);
  });

  it("neither variable (or both empty): no client is added", () => {
    expect(loadConfig({}).clients).toEqual([]);
    expect(loadConfig({ TOKENSMITH_ADMIN_CLIENT_ID: "", TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: "" }).clients).toEqual([]);
  });

  it.each([
    [{ TOKENSMITH_ADMIN_CLIENT_ID: "ops-admin" }, "TOKENSMITH_ADMIN_CLIENT_SECRET_HASH"],
    [{ TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: hash }, "TOKENSMITH_ADMIN_CLIENT_ID"],
  ])("one variable without the other is refused, naming the missing one (%o)", (env, missing) => {
    expect(loadError(env).message).toContain(`${missing} is not set`);
  });

  it("the secret itself instead of its hash is refused, naming the variable and not echoing the secret", () => {
    const error = loadError({ TOKENSMITH_ADMIN_CLIENT_ID: "ops-admin", TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: secret });
    expect(error.message).toContain("TOKENSMITH_ADMIN_CLIENT_SECRET_HASH");
    expect(error.message).toContain("tokensmith secret new");
    expect(error.message).not.toContain(secret);
  });

  it("the secret as the id (the variables mixed up) is refused, naming the variable and not echoing the secret", () => {
    const error = loadError({ TOKENSMITH_ADMIN_CLIENT_ID: secret, TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: hash });
    expect(error.message).toContain("TOKENSMITH_ADMIN_CLIENT_ID");
    expect(error.message).not.toContain(secret);
  });

  it("a secret as a config file client's id is refused too, not echoed", async () => {
    const path = join(dir, "secret-id.yaml");
    await writeFile(path, `clients:\n  - id: ${secret}\n    secretHashes: ["${hash}"]\n    scopes: [orders:read]\n`);
    const error = loadError({}, path);
    expect(error.message).toMatch(/clients\.0\.id: .*secret/);
    expect(error.message).not.toContain(secret);
  });

  it("an id a client of the config file already has is refused as a duplicate", async () => {
    const path = join(dir, "admin.yaml");
    await writeFile(path, `clients:\n  - id: ops-admin\n    secretHashes: ["${hash}"]\n    scopes: [orders:read]\n`);
    const error = loadError({ TOKENSMITH_ADMIN_CLIENT_ID: "ops-admin", TOKENSMITH_ADMIN_CLIENT_SECRET_HASH: hash }, path);
    expect(error.message).toContain('duplicate client id "ops-admin"');
  });
});
