/**
 * The program of a signing thread (signing-threads.ts starts it): the same
 * `signatureOf` and Ed25519 engines as the event loop, so a thread's
 * signature is the one the event loop would make.
 */
import type { KeyObject } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { ed25519Engine, type Ed25519Engine, type Ed25519Key } from "./ed25519.js";
import { signatureOf } from "./jws.js";
import type { SigningAlgorithm } from "./signing-key.js";

/** A key as it crosses to the thread: KeyObjects are cloned, an engine goes by its name. */
export interface ThreadKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: KeyObject;
  ed25519?: Ed25519Key & { engine: Ed25519Engine["name"] };
}

export interface BatchRequest {
  /** Keys this thread has not seen yet, sent once per kid. */
  keys: ThreadKey[];
  kids: string[];
  inputs: string[];
}

export type BatchReply = { signatures: string[] } | { error: string };

type Signer = Parameters<typeof signatureOf>[0];

function signerOf(key: ThreadKey): Signer {
  if (key.ed25519 === undefined) return { privateKey: key.privateKey };
  const { privateKey, publicKey, secretKey, rawPublicKey, engine } = key.ed25519;
  return { privateKey: key.privateKey, ed25519: { privateKey, publicKey, secretKey, rawPublicKey, engine: ed25519Engine(engine === "libsodium" ? "libsodium" : "node") } };
}

const port = parentPort;
if (port !== null) {
  const keys = new Map<string, Signer>();
  port.on("message", (batch: BatchRequest) => {
    let reply: BatchReply;
    try {
      for (const key of batch.keys) keys.set(key.kid, signerOf(key));
      reply = {
        signatures: batch.inputs.map((input, i) => {
          const key = keys.get(batch.kids[i]!);
          if (key === undefined) throw new Error(`signing thread: no key ${batch.kids[i]}`);
          return signatureOf(key, input);
        }),
      };
    } catch (error) {
      reply = { error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(reply);
  });
}
