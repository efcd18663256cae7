import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { decodeJwt } from "../support/admin.js";
import { killCliProcesses, runCli, tableRows } from "../support/cli-process.js";
import { assertionForm, generateClientKey, postForm, signAssertion, startJsonHost, type ClientKey, type HttpResult, type JsonHost } from "../support/oauth.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

/**
 * `tokensmith trusted-issuer create|list|delete`: the AdminService's trusted
 * external issuers (workload identity federation) from the shell, against a
 * running server. A created issuer's platform tokens authenticate the
 * federated_jwt clients its subjects map to, until it is deleted; mistakes exit
 * with the documented codes.
 */

const admin = testClient("cli-admin", ["tokensmith:admin", "tokensmith:tenants"]);
const outsider = testClient("cli-outsider", ["reports:read"]);

const DECLARED = "https://declared.example";
const CI = "https://ci.example";
const K8S = "https://kubernetes.example";
const CI_SUBJECT = "repo:org/app:ref:refs/heads/main";
const ORDERS_SUBJECT = "system:serviceaccount:prod:orders";

const [ciKey, k8sKey, declaredKey] = await Promise.all([generateClientKey("ES256"), generateClientKey("RS256"), generateClientKey("ES256")]);

let server: RunningServer;
let k8sJwks: JsonHost;
let dir: string;
/** Files for --jwks-file: the CI issuer's JWK Set, one that is not JSON, one with a private key. */
const files = { ciJwks: "", notJson: "", privateJwks: "" };

beforeAll(async () => {
  k8sJwks = await startJsonHost(() => ({ keys: [k8sKey.publicJwk] }));
  server = await startTestServer({
    clients: [admin, outsider],
    config: {
      // The "Kubernetes" JWKS is served over http on 127.0.0.1.
      clientJwksUris: { allowHttp: true, allowPrivateNetworks: true },
      clients: [
        { id: "deployer", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["deploy:production"] },
        { id: "orders", tokenEndpointAuthMethods: ["federated_jwt"], scopes: ["orders:write"] },
      ],
      trustedIssuers: [{ issuer: DECLARED, jwks: { keys: [declaredKey.publicJwk] }, audiences: ["tokensmith"], subjectMapping: [{ subject: "declared:*", clientId: "deployer" }] }],
    },
  });
  dir = mkdtempSync(join(tmpdir(), "tokensmith-trusted-issuer-cli-"));
  files.ciJwks = join(dir, "ci-jwks.json");
  files.notJson = join(dir, "not-json.json");
  files.privateJwks = join(dir, "private-jwks.json");
  writeFileSync(files.ciJwks, JSON.stringify({ keys: [ciKey.publicJwk] }));
  writeFileSync(files.notJson, "{not json");
  writeFileSync(files.privateJwks, JSON.stringify({ keys: [{ ...ciKey.publicJwk, d: "private" }] }));
});
afterAll(async () => {
  killCliProcesses();
  await server?.close();
  await k8sJwks?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function tokensmith(args: string[], env: Record<string, string> = {}) {
  const run = runCli(args, { TOKENSMITH_URL: server.url, TOKENSMITH_CLIENT_ID: admin.id, TOKENSMITH_CLIENT_SECRET: admin.secret, ...env });
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await tokensmith(args, env);
  expect(result, `tokensmith ${args.join(" ")}`).toMatchObject({ code: 0, stderr: "" });
  return result.stdout;
}

const json = async <T>(args: string[], env: Record<string, string> = {}) => JSON.parse(await ok([...args, "--json"], env)) as T;

interface IssuerJson {
  issuer: string;
  jwksJson: string;
  jwksUri: string;
  audiences: string[];
  subjectMappings: Array<{ subject: string; clientId: string; claims: Record<string, string> }>;
  source: string;
}

/** A platform token of `key`'s issuer, as a Kubernetes pod or a CI job is handed one. */
function platformToken(key: ClientKey, claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signAssertion(key, { aud: "tokensmith", iat: now - 5, exp: now + 300, jti: randomUUID(), ...claims });
}

/** client_credentials at `<url>[/t/tenant]/oauth2/token`, authenticated by the platform token alone (federated_jwt). */
const tokenWith = (assertion: string, tenant?: string): Promise<HttpResult> =>
  postForm(`${server.url}${tenant === undefined ? "" : `/t/${tenant}`}/oauth2/token`, { grant_type: "client_credentials", ...assertionForm(assertion) });

function issuedTo(result: HttpResult, clientId: string): void {
  expect(result.status, result.text).toBe(200);
  expect(decodeJwt((result.json as { access_token: string }).access_token).payload).toMatchObject({ client_id: clientId });
}

const refused = (result: HttpResult) => expect({ status: result.status, error: (result.json as { error?: string }).error }).toEqual({ status: 401, error: "invalid_client" });

// Spawning `node bin/tokensmith.js` compiles TypeScript on the fly: slow on a busy machine.
const SPAWNING = { timeout: 120_000 };

describe("tokensmith trusted-issuer", SPAWNING, () => {
  it("create with --jwks-file (table): its token authenticates the mapped federated_jwt client while the claim holds; list (table, --json); delete stops it", async () => {
    const ciToken = (claims: Record<string, unknown> = {}) => platformToken(ciKey, { iss: CI, sub: CI_SUBJECT, repository_owner: "org", ...claims });
    refused(await tokenWith(await ciToken()));

    const output = await ok(["trusted-issuer", "create", CI, "--jwks-file", files.ciJwks, "--audience", "tokensmith", "--map", `${CI_SUBJECT}=deployer,repository_owner=org`]);
    expect(output).toMatch(new RegExp(`^created trusted issuer "${CI}"\n\n`));
    expect(output).toMatch(/^issuer: +https:\/\/ci\.example$/m);
    expect(output).toMatch(/^source: +store$/m);
    expect(output).toMatch(/^keys: +inline JWK Set \(1 key\)$/m);
    expect(output).toMatch(/^audiences: +tokensmith$/m);
    expect(output).toContain(`${CI_SUBJECT}=deployer,repository_owner=org`);

    issuedTo(await tokenWith(await ciToken()), "deployer");
    // The mapping's claim condition holds as given after the subject.
    refused(await tokenWith(await ciToken({ repository_owner: "evil" })));

    const rows = tableRows(await ok(["trusted-issuer", "list"]));
    expect(Object.keys(rows[0]!)).toEqual(["ISSUER", "KEYS", "AUDIENCES", "MAPPINGS", "SOURCE", "CREATED"]);
    expect(rows.find((row) => row.ISSUER === DECLARED)).toMatchObject({ KEYS: "jwks", AUDIENCES: "tokensmith", MAPPINGS: "declared:*=deployer", SOURCE: "config", CREATED: "-" });
    expect(rows.find((row) => row.ISSUER === CI)).toMatchObject({ KEYS: "jwks", AUDIENCES: "tokensmith", MAPPINGS: `${CI_SUBJECT}=deployer,repository_owner=org`, SOURCE: "store" });
    expect(rows.find((row) => row.ISSUER === CI)!.CREATED).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const listed = await json<{ trustedIssuers: IssuerJson[] }>(["trusted-issuer", "list"]);
    const ci = listed.trustedIssuers.find((info) => info.issuer === CI)!;
    expect(ci).toMatchObject({ jwksUri: "", audiences: ["tokensmith"], source: "SOURCE_STORE", subjectMappings: [{ subject: CI_SUBJECT, clientId: "deployer", claims: { repository_owner: "org" } }] });
    expect(JSON.parse(ci.jwksJson)).toEqual({ keys: [ciKey.publicJwk] });
    expect(listed.trustedIssuers.find((info) => info.issuer === DECLARED)).toMatchObject({ source: "SOURCE_CONFIG" });

    expect(await ok(["trusted-issuer", "delete", CI])).toBe(`deleted trusted issuer "${CI}": its tokens are refused from now on\n`);
    refused(await tokenWith(await ciToken()));
    expect((await json<{ trustedIssuers: IssuerJson[] }>(["trusted-issuer", "list"])).trustedIssuers.map((info) => info.issuer)).not.toContain(CI);
  });

  it("create with --jwks-uri (--json), --audience repeated and as a list, several --map; the first matching mapping decides; delete --issuer --json", async () => {
    const created = await json<{ trustedIssuer: IssuerJson }>([
      "trusted-issuer", "create", "--issuer", K8S, "--jwks-uri", k8sJwks.url,
      "--audience", "tokensmith", "--audience", "api-a,api-b",
      "--map", `${ORDERS_SUBJECT}=orders,kubernetes.io/namespace=prod`,
      "--map", "system:serviceaccount:ci:*=deployer",
    ]);
    expect(created.trustedIssuer).toEqual({
      issuer: K8S,
      jwksJson: "",
      jwksUri: k8sJwks.url,
      audiences: ["tokensmith", "api-a", "api-b"],
      subjectMappings: [
        { subject: ORDERS_SUBJECT, clientId: "orders", claims: { "kubernetes.io/namespace": "prod" } },
        { subject: "system:serviceaccount:ci:*", clientId: "deployer", claims: {} },
      ],
      source: "SOURCE_STORE",
      createTime: expect.any(String),
    });
    issuedTo(await tokenWith(await platformToken(k8sKey, { iss: K8S, sub: ORDERS_SUBJECT, aud: "api-b", "kubernetes.io/namespace": "prod" })), "orders");
    issuedTo(await tokenWith(await platformToken(k8sKey, { iss: K8S, sub: "system:serviceaccount:ci:runner" })), "deployer");
    refused(await tokenWith(await platformToken(k8sKey, { iss: K8S, sub: ORDERS_SUBJECT, "kubernetes.io/namespace": "dev" })));

    const row = tableRows(await ok(["trusted-issuer", "list"])).find((listed) => listed.ISSUER === K8S);
    expect(row).toMatchObject({ KEYS: k8sJwks.url, AUDIENCES: "tokensmith,api-a,api-b", MAPPINGS: `${ORDERS_SUBJECT}=orders,kubernetes.io/namespace=prod; system:serviceaccount:ci:*=deployer` });

    expect(await json(["trusted-issuer", "delete", "--issuer", K8S])).toEqual({ issuer: K8S, deleted: true });
    refused(await tokenWith(await platformToken(k8sKey, { iss: K8S, sub: "system:serviceaccount:ci:runner" })));
  });

  it("create with an inline --jwks", async () => {
    const issuer = "https://inline.example";
    const created = await json<{ trustedIssuer: IssuerJson }>(["trusted-issuer", "create", issuer, "--jwks", JSON.stringify({ keys: [ciKey.publicJwk] }), "--audience", "tokensmith", "--map", "inline:*=deployer"]);
    expect(JSON.parse(created.trustedIssuer.jwksJson)).toEqual({ keys: [ciKey.publicJwk] });
    issuedTo(await tokenWith(await platformToken(ciKey, { iss: issuer, sub: "inline:job" })), "deployer");
    await ok(["trusted-issuer", "delete", issuer]);
  });

  it("--tenant: the tenant's admin trusts an issuer for the tenant's clients only", async () => {
    const tenant = "cli-trust";
    const { adminClientSecret } = await json<{ adminClientSecret: string }>(["tenant", "create", tenant, "--admin-client", "trust-admin"]);
    const asTenantAdmin = { TOKENSMITH_CLIENT_ID: "trust-admin", TOKENSMITH_CLIENT_SECRET: adminClientSecret };
    await ok(["client", "create", "--id", "tenant-deployer", "--auth-method", "federated_jwt", "--scopes", "deploy:staging", "--tenant", tenant], asTenantAdmin);
    const issuer = "https://tenant-ci.example";
    await ok(["trusted-issuer", "create", issuer, "--jwks-file", files.ciJwks, "--audience", "tokensmith", "--map", "tenant:*=tenant-deployer", "--tenant", tenant], asTenantAdmin);

    const token = () => platformToken(ciKey, { iss: issuer, sub: "tenant:job" });
    issuedTo(await tokenWith(await token(), tenant), "tenant-deployer");
    refused(await tokenWith(await token()));
    expect(tableRows(await ok(["--tenant", tenant, "trusted-issuer", "list"], asTenantAdmin)).map((row) => row.ISSUER)).toEqual([issuer]);
    expect(tableRows(await ok(["trusted-issuer", "list"])).map((row) => row.ISSUER)).not.toContain(issuer);

    await ok(["trusted-issuer", "delete", issuer, "--tenant", tenant], asTenantAdmin);
    refused(await tokenWith(await token(), tenant));
  });

  const create = (issuer: string, ...args: string[]) => ["create", issuer, "--jwks-file", files.ciJwks, "--audience", "tokensmith", "--map", "x:*=deployer", ...args];

  it.concurrent.each([
    ["create without an issuer", () => ["create", "--jwks-file", files.ciJwks, "--audience", "tokensmith", "--map", "x=deployer"], {}, 2, /missing the trusted issuer \(an argument or --issuer\)[\s\S]*usage: tokensmith trusted-issuer/],
    ["create with two key sources", () => create("https://two.example", "--jwks-uri", "https://keys.example/jwks.json"), {}, 2, /give one of --jwks-file, --jwks or --jwks-uri, not several/],
    ["create without keys", () => ["create", "https://none.example", "--audience", "tokensmith", "--map", "x=deployer"], {}, 2, /missing the issuer's keys: --jwks-file FILE, --jwks JSON or --jwks-uri URL/],
    ["create without --audience", () => ["create", "https://aud.example", "--jwks-file", files.ciJwks, "--map", "x=deployer"], {}, 2, /missing --audience/],
    ["create without --map", () => ["create", "https://map.example", "--jwks-file", files.ciJwks, "--audience", "tokensmith"], {}, 2, /missing --map SUBJECT=CLIENT_ID/],
    ["a --map without '='", () => ["create", "https://map.example", "--jwks-file", files.ciJwks, "--audience", "tokensmith", "--map", "deployer"], {}, 2, /--map "deployer" must be SUBJECT=CLIENT_ID/],
    ["a claim condition without '='", () => create("https://claim.example", "--map", "a=deployer,namespace"), {}, 2, /claim condition "namespace" in --map "a=deployer,namespace" must be CLAIM=VALUE/],
    // Each was dropped without a word (the mapping created without that condition), which widens whom the mapping lets in.
    ["a claim given twice in one --map", () => create("https://twice-claim.example", "--map", "a=deployer,owner=org,owner=other"), {}, 2, /the claim "owner" is given twice in --map "a=deployer,owner=org,owner=other"/],
    ["a claim condition named __proto__", () => create("https://proto.example", "--map", "a=deployer,__proto__=x"), {}, 4, /cannot create trusted issuer "https:\/\/proto\.example": .*__proto__/],
    ["an unreadable --jwks-file", () => ["create", "https://file.example", "--jwks-file", join(dir, "missing.json"), "--audience", "tokensmith", "--map", "x=deployer"], {}, 2, /cannot read --jwks-file/],
    ["a --jwks-file that is not JSON", () => ["create", "https://bad.example", "--jwks-file", files.notJson, "--audience", "tokensmith", "--map", "x=deployer"], {}, 4, /cannot create trusted issuer "https:\/\/bad\.example": jwks_json is not valid JSON/],
    ["a JWK Set with a private key", () => ["create", "https://private.example", "--jwks-file", files.privateJwks, "--audience", "tokensmith", "--map", "x=deployer"], {}, 4, /cannot create trusted issuer "https:\/\/private\.example": .*public/],
    ["an issuer created twice", () => create("https://twice.example"), {}, 4, /trusted issuer "https:\/\/twice\.example" already exists/],
    ["creating a config-declared issuer", () => create(DECLARED), {}, 4, /trusted issuer "https:\/\/declared\.example" already exists/],
    ["deleting a config-declared issuer", () => ["delete", DECLARED], {}, 4, /cannot delete trusted issuer "https:\/\/declared\.example": .*declared in the config file and is read-only here/],
    ["deleting an unknown issuer", () => ["delete", "https://nobody.example"], {}, 4, /cannot delete trusted issuer "https:\/\/nobody\.example": trusted issuer "https:\/\/nobody\.example" not found/],
    ["delete without an issuer", () => ["delete"], {}, 2, /missing the trusted issuer \(an argument or --issuer\)/],
    ["a client without tokensmith:admin", () => ["list"], { TOKENSMITH_CLIENT_ID: outsider.id, TOKENSMITH_CLIENT_SECRET: outsider.secret }, 3, /tokensmith:admin/],
    ["an unknown trusted-issuer command", () => ["update", CI], {}, 2, /unknown trusted-issuer command "update"/],
  ] as Array<[string, () => string[], Record<string, string>, number, RegExp]>)("%s: the exit code and the reason", async (_case, args, env, code, message) => {
    if (args().includes("https://twice.example")) await ok(["trusted-issuer", ...args()]);
    const result = await tokensmith(["trusted-issuer", ...args()], env);
    expect(result).toMatchObject({ code, stdout: "" });
    expect(result.stderr).toMatch(message);
  });

  it("`trusted-issuer --help`: 0, the usage; `help` lists it", async () => {
    const usage = await ok(["trusted-issuer", "--help"]);
    expect(usage).toContain("usage: tokensmith trusted-issuer");
    expect(usage).toContain("--map SUBJECT=CLIENT_ID[,CLAIM=VALUE…]");
    expect(await ok(["help"])).toContain("trusted-issuer create|list|delete");
  });
});
