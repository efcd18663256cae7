/**
 * Ed25519 per call, libsodium (sodium-native) vs node:crypto (OpenSSL), in
 * this process: `npx tsx bench/ed25519.ts [--calls N] [--rounds R]`. Prints the
 * median µs per sign and per verify of each engine and the ratio, with the
 * two engines interleaved round by round (this VM's speed drifts).
 */
import { parseArgs } from "node:util";
import { libsodiumEd25519, nodeCryptoEd25519, type Ed25519Engine } from "../src/keys/ed25519.js";
import { generateSigningKey } from "../src/keys/signing-key.js";
import { median } from "./lib/report.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "5000" }, rounds: { type: "string", default: "7" } } });
const calls = Number(values.calls);
const rounds = Number(values.rounds);
if (libsodiumEd25519 === undefined) throw new Error("sodium-native does not load here: nothing to compare");

const key = (await generateSigningKey("EdDSA", Date.now())).ed25519!;
// About the size of a signing input of an access token.
const message = Buffer.alloc(330, "eyJhbGciOiJFZERTQSJ9");
const signature = nodeCryptoEd25519.sign(key, message);

function microsPerCall(call: () => unknown): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) call();
  return Number(process.hrtime.bigint() - start) / calls / 1000;
}

const engines: Array<[string, Ed25519Engine]> = [
  ["libsodium", libsodiumEd25519],
  ["node:crypto", nodeCryptoEd25519],
];
const samples = new Map<string, number[]>();
const record = (name: string, value: number) => samples.set(name, [...(samples.get(name) ?? []), value]);
for (let round = 0; round <= rounds; round++) {
  for (const [name, engine] of round % 2 === 0 ? engines : [...engines].reverse()) {
    const sign = microsPerCall(() => engine.sign(key, message));
    const verify = microsPerCall(() => engine.verify(key, message, signature));
    // Round 0 warms up.
    if (round > 0) {
      record(`${name} sign`, sign);
      record(`${name} verify`, verify);
    }
  }
}
for (const operation of ["sign", "verify"]) {
  const sodium = median(samples.get(`libsodium ${operation}`)!);
  const node = median(samples.get(`node:crypto ${operation}`)!);
  console.log(
    `${operation.padEnd(6)}  libsodium ${sodium.toFixed(2)} µs  node:crypto ${node.toFixed(2)} µs  libsodium/node:crypto ${(sodium / node).toFixed(2)}×`,
  );
}
