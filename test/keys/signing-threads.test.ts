import { generateKeyPairSync, sign, verify } from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { libsodiumEd25519, nodeCryptoEd25519 } from "../../src/keys/ed25519.js";
import { signatureOf } from "../../src/keys/jws.js";
import { generateSigningKey, type SigningKey } from "../../src/keys/signing-key.js";
import { MAX_SIGNATURES_PER_MESSAGE, SigningThreads } from "../../src/keys/signing-threads.js";
import type { RunningServer } from "../../src/server.js";
import { capturedLog } from "../support/captured-log.js";
import { startTestServer, testClient } from "../support/tokensmith.js";

/**
 * Signatures computed in threads off the event loop must be the signatures
 * the event loop would compute: Ed25519 is deterministic, so they are equal
 * byte for byte; ES256 signatures are randomized, so they must verify.
 */

const inputs = (count: number, tag: string) => Array.from({ length: count }, (_, i) => `${tag}.payload-${i}-${"x".repeat(i % 50)}`);

function verifies(key: SigningKey, input: string, signature: string): boolean {
  const bytes = Buffer.from(signature, "base64url");
  return key.alg === "EdDSA"
    ? verify(null, Buffer.from(input), key.publicKey, bytes)
    : verify("sha256", Buffer.from(input), { key: key.publicKey, dsaEncoding: "ieee-p1363" }, bytes);
}

/** A thread program that dies on the first batch it gets. */
const DYING_THREAD = `require("node:worker_threads").parentPort.on("message", () => process.exit(3));`;
/** A thread program that answers every batch with an error. */
const FAILING_THREAD = `const { parentPort } = require("node:worker_threads"); parentPort.on("message", () => parentPort.postMessage({ error: "no" }));`;
/** A thread program that answers input i of a message of n inputs with "n:i". */
const BATCH_SIZE_THREAD = `const { parentPort } = require("node:worker_threads");
parentPort.on("message", (batch) => parentPort.postMessage({ signatures: batch.inputs.map((_, i) => batch.inputs.length + ":" + i) }));`;
/** A thread program that answers with the wrong number of signatures. */
const SHORT_THREAD = `const { parentPort } = require("node:worker_threads"); parentPort.on("message", () => parentPort.postMessage({ signatures: [] }));`;

describe("SigningThreads", () => {
  let threads: SigningThreads | undefined;
  afterEach(async () => {
    await threads?.close();
    threads = undefined;
  });

  it.each([
    ["libsodium", libsodiumEd25519!],
    ["node:crypto", nodeCryptoEd25519],
  ])("with %s, gives node:crypto's Ed25519 signatures byte for byte, for many concurrent requests over several threads", async (_name, engine) => {
    const key = await generateSigningKey("EdDSA", Date.now(), engine);
    expect(key.ed25519?.engine).toBe(engine);
    threads = new SigningThreads(2);
    const all = inputs(600, "ed");
    // Six turns of the event loop: six batches, spread over both threads while the first ones are in flight.
    const pending: Array<Promise<string>> = [];
    for (let turn = 0; turn < 6; turn++) {
      pending.push(...all.slice(turn * 100, (turn + 1) * 100).map((input) => threads!.sign(key, input)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const signatures = await Promise.all(pending);
    // Ed25519 is deterministic (RFC 8032): OpenSSL's signature is the one to give.
    expect(signatures).toEqual(all.map((input) => sign(null, Buffer.from(input), key.privateKey).toString("base64url")));
    expect(threads.running).toBe(2);
  });

  it.each([
    ["EdDSA by libsodium", "EdDSA", libsodiumEd25519!],
    ["EdDSA by node:crypto", "EdDSA", nodeCryptoEd25519],
    ["ES256", "ES256", nodeCryptoEd25519],
  ] as const)("%s: the thread signs with the module signing-thread.ts itself, the event loop signs none", async (_name, alg, engine) => {
    const log = capturedLog();
    const key = await generateSigningKey(alg, Date.now(), engine);
    threads = new SigningThreads(1, log.logger);
    const all = inputs(40, "module");
    const signatures = await Promise.all(all.map((input) => threads!.sign(key, input)));
    all.forEach((input, i) => expect(verifies(key, input, signatures[i]!), `#${i}`).toBe(true));
    expect(threads.signedInEventLoop).toBe(0);
    expect(log.matching(/signing thread/)).toEqual([]);
  });

  it("counts the signatures the event loop made in a failing thread's place", async () => {
    const key = await generateSigningKey("EdDSA", Date.now());
    threads = new SigningThreads(1, undefined, FAILING_THREAD);
    await Promise.all(inputs(5, "failing").map((input) => threads!.sign(key, input)));
    expect(threads.signedInEventLoop).toBe(5);
  });

  it("signs with the engine the key names: libsodium's raw secret key, or node:crypto's KeyObject", async () => {
    const a = await generateSigningKey("EdDSA", Date.now(), libsodiumEd25519!);
    const b = await generateSigningKey("EdDSA", Date.now(), libsodiumEd25519!);
    // Two keys that disagree on purpose: the KeyObject is a's, the raw secret key is b's.
    const viaSodium: SigningKey = { ...a, kid: "hybrid-sodium", ed25519: { ...a.ed25519!, secretKey: b.ed25519!.secretKey } };
    const viaNode: SigningKey = { ...viaSodium, kid: "hybrid-node", ed25519: { ...viaSodium.ed25519!, engine: nodeCryptoEd25519 } };
    threads = new SigningThreads(1);
    const [sodiumSigned, nodeSigned] = await Promise.all([threads.sign(viaSodium, "x.y"), threads.sign(viaNode, "x.y")]);
    expect(sodiumSigned).toBe(signatureOf(b, "x.y"));
    expect(nodeSigned).toBe(signatureOf(a, "x.y"));
    expect(sodiumSigned).toBe(signatureOf(viaSodium, "x.y"));
  });

  it(`a turn's signatures leave in messages of at most ${MAX_SIGNATURES_PER_MESSAGE}, answered in order`, async () => {
    const key = await generateSigningKey("EdDSA", Date.now());
    // A thread program that answers each input with the size of the message it came in, and its place there.
    threads = new SigningThreads(1, undefined, BATCH_SIZE_THREAD);
    const count = 2 * MAX_SIGNATURES_PER_MESSAGE + 5;
    const answers = await Promise.all(inputs(count, "burst").map((input) => threads!.sign(key, input)));
    const expected = Array.from({ length: count }, (_, i) => {
      const message = Math.floor(i / MAX_SIGNATURES_PER_MESSAGE);
      const size = message < 2 ? MAX_SIGNATURES_PER_MESSAGE : 5;
      return `${size}:${i % MAX_SIGNATURES_PER_MESSAGE}`;
    });
    expect(answers).toEqual(expected);
  });

  it("signs ES256 verifiably, and a key it has not seen (a rotation) in the same batch as a known one", async () => {
    const first = await generateSigningKey("EdDSA", Date.now());
    const second = await generateSigningKey("ES256", Date.now());
    threads = new SigningThreads(1);
    expect(verifies(first, "a.b", await threads.sign(first, "a.b"))).toBe(true);
    const mixed = inputs(50, "mixed");
    const keys = mixed.map((_, i) => (i % 2 === 0 ? first : second));
    const signatures = await Promise.all(mixed.map((input, i) => threads!.sign(keys[i]!, input)));
    mixed.forEach((input, i) => expect(verifies(keys[i]!, input, signatures[i]!), `#${i}`).toBe(true));
    // A signature by one key never verifies under the other.
    expect(verifies(second, mixed[0]!, signatures[0]!)).toBe(false);
  });

  it.each([
    ["dies", DYING_THREAD],
    ["answers with an error", FAILING_THREAD],
    ["answers with too few signatures", SHORT_THREAD],
  ])("when a thread %s, every pending signature is still made (in the event loop), correctly", async (_case, source) => {
    const key = await generateSigningKey("EdDSA", Date.now());
    threads = new SigningThreads(1, undefined, source);
    for (let round = 0; round < 3; round++) {
      const all = inputs(40, `round${round}`);
      const signatures = await Promise.all(all.map((input) => threads!.sign(key, input)));
      expect(signatures).toEqual(all.map((input) => signatureOf(key, input)));
    }
  });

  it("a signing error reaches the caller as an error, not a hang", async () => {
    const key = await generateSigningKey("EdDSA", Date.now());
    // An X25519 key where an Ed25519 key is expected, and a 10-byte libsodium secret key:
    // node:crypto and libsodium refuse it, in the thread and in the event loop.
    const x25519 = generateKeyPairSync("x25519").privateKey;
    const wrong: SigningKey = { ...key, kid: "wrong", privateKey: x25519, ed25519: { ...key.ed25519!, privateKey: x25519, secretKey: new Uint8Array(10) } };
    expect(() => signatureOf(wrong, "bad.input")).toThrow();
    threads = new SigningThreads(1);
    const good = threads.sign(key, "good.input");
    await expect(threads.sign(wrong, "bad.input")).rejects.toThrow();
    expect(await good).toBe(signatureOf(key, "good.input"));
  });

  it("after close, signs in the event loop and runs no thread", async () => {
    const key = await generateSigningKey("EdDSA", Date.now());
    threads = new SigningThreads(1);
    await threads.sign(key, "before");
    expect(threads.running).toBe(1);
    await threads.close();
    expect(threads.running).toBe(0);
    expect(await threads.sign(key, "after")).toBe(signatureOf(key, "after"));
  });

  it("refuses a count that is not a positive integer", () => {
    expect(() => new SigningThreads(0)).toThrow(/positive integer/);
    expect(() => new SigningThreads(1.5)).toThrow(/positive integer/);
  });
});

describe("the server signs the same tokens with and without signing threads", () => {
  const client = testClient("threads-client", ["things:read"]);
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it.each([
    [0, "libsodium"],
    [1, "libsodium"],
    [3, "libsodium"],
    [0, "node"],
    [1, "node"],
  ] as const)("signingThreads: %i, ed25519: %s — 200 concurrent tokens all verify against the JWKS", async (signingThreads, ed25519) => {
    const server = await startTestServer({ clients: [client], config: { signingThreads, ed25519 } });
    servers.push(server);
    expect(server.domain.keyRing.active().ed25519?.engine.name).toBe(ed25519 === "node" ? "node:crypto" : "libsodium");
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const auth = `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`;
    const responses = await Promise.all(
      Array.from({ length: 200 }, () =>
        fetch(`${server.url}/oauth2/token`, {
          method: "POST",
          headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded" },
          body: "grant_type=client_credentials&scope=things:read",
        }).then(async (response) => ({ status: response.status, body: (await response.json()) as { access_token: string } })),
      ),
    );
    const jtis = new Set<unknown>();
    for (const { status, body } of responses) {
      expect(status).toBe(200);
      const { payload } = await jwtVerify(body.access_token, jwks, { issuer: server.domain.issuer, typ: "at+jwt" });
      expect(payload.scope).toBe("things:read");
      jtis.add(payload.jti);
    }
    expect(jtis.size).toBe(200);
  });
});
