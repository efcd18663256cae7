import { Worker } from "node:worker_threads";
import type { KeyObject } from "node:crypto";
import type { Logger } from "pino";
import { signatureOf } from "./jws.js";
import type { SigningKey } from "./signing-key.js";

/** Produces the base64url signature of a JWS signing input. */
export interface Signatures {
  sign(key: SigningKey, signingInput: string): Promise<string>;
  close(): Promise<void>;
}

/** Signs in the calling thread (the event loop). */
export const inlineSignatures: Signatures = {
  sign: async (key, signingInput) => signatureOf(key, signingInput),
  close: async () => {},
};

interface BatchRequest {
  /**
   * Keys this thread has not seen yet, sent once per kid (KeyObjects are
   * cloned into the thread). An Ed25519 key that libsodium signs with comes
   * with its raw secret key and the module to load.
   */
  keys: Array<{ kid: string; alg: string; key: KeyObject; sodium?: { modulePath: string; secretKey: Uint8Array } }>;
  kids: string[];
  inputs: string[];
}

type BatchReply = { signatures: string[] } | { error: string };

/**
 * The thread's program, CommonJS run with `eval` so it is the same under tsx
 * and in the compiled build. It makes exactly the calls of `signatureOf`
 * (for libsodium, the ones of `libsodiumEd25519.sign`).
 */
const THREAD_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { sign } = require("node:crypto");
const keys = new Map();
function libsodiumSign(entry, data) {
  const signature = Buffer.allocUnsafe(64);
  entry.sodium.library.crypto_sign_detached(signature, data, entry.sodium.secretKey);
  return signature;
}
parentPort.on("message", (batch) => {
  try {
    for (const entry of batch.keys) {
      if (entry.sodium) entry.sodium.library = require(entry.sodium.modulePath);
      keys.set(entry.kid, entry);
    }
    const signatures = batch.inputs.map((input, i) => {
      const entry = keys.get(batch.kids[i]);
      const data = Buffer.from(input);
      const signature = entry.alg !== "EdDSA"
        ? sign("sha256", data, { key: entry.key, dsaEncoding: "ieee-p1363" })
        : entry.sodium ? libsodiumSign(entry, data) : sign(null, data, entry.key);
      return signature.toString("base64url");
    });
    parentPort.postMessage({ signatures });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
});
`;

interface Pending {
  keys: SigningKey[];
  inputs: string[];
  settle: Array<{ resolve: (signature: string) => void; reject: (error: unknown) => void }>;
}

const emptyPending = (): Pending => ({ keys: [], inputs: [], settle: [] });

/**
 * The most signatures one message asks for. A turn can bring up to one
 * request per connection (50 in the bench); as one message, the event loop
 * idles until the thread has signed all of them, then the thread idles
 * while the event loop answers them. In messages of 16 the first answers
 * are written while the thread signs the rest: `POST /oauth2/token` in one
 * process went from ~11.5k to ~15k tokens/s at the same CPU per token
 * (A/B, 8 rounds; 8 and 4 per message were no better).
 */
export const MAX_SIGNATURES_PER_MESSAGE = 16;

/** One thread and the batches it has not answered yet (it answers in order). */
class SigningThread {
  private readonly worker: Worker;
  private readonly known = new Set<string>();
  private readonly inFlight: Pending[] = [];
  private alive = true;

  constructor(
    source: string,
    private readonly onGone: (thread: SigningThread, unanswered: Pending[], reason: string) => void,
  ) {
    this.worker = new Worker(source, { eval: true, name: "tokensmith-signing" });
    // Never keeps the process alive; closing terminates it.
    this.worker.unref();
    this.worker.on("message", (reply: BatchReply) => this.answer(reply));
    this.worker.on("error", (error) => this.gone(`failed: ${error.message}`));
    this.worker.on("exit", (code) => this.gone(`exited with code ${code}`));
  }

  get load(): number {
    return this.inFlight.length;
  }

  send(batch: Pending): void {
    const request: BatchRequest = { keys: [], kids: [], inputs: batch.inputs };
    for (const key of batch.keys) {
      request.kids.push(key.kid);
      if (!this.known.has(key.kid)) {
        this.known.add(key.kid);
        const modulePath = key.ed25519?.engine.modulePath;
        request.keys.push({
          kid: key.kid,
          alg: key.alg,
          key: key.privateKey,
          ...(modulePath !== undefined ? { sodium: { modulePath, secretKey: key.ed25519!.secretKey } } : {}),
        });
      }
    }
    this.inFlight.push(batch);
    this.worker.postMessage(request);
  }

  private answer(reply: BatchReply): void {
    const batch = this.inFlight.shift();
    if (batch === undefined) return;
    if ("signatures" in reply && reply.signatures.length === batch.inputs.length) {
      batch.settle.forEach((settle, i) => settle.resolve(reply.signatures[i] as string));
    } else {
      // Whatever went wrong there, the event loop signs this batch (and reports its own error if it has one).
      signInline(batch);
    }
  }

  private gone(reason: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.onGone(this, this.inFlight.splice(0), reason);
  }

  async terminate(): Promise<void> {
    this.alive = false;
    const unanswered = this.inFlight.splice(0);
    await this.worker.terminate();
    for (const batch of unanswered) signInline(batch);
  }
}

function signInline(batch: Pending): void {
  batch.inputs.forEach((input, i) => {
    try {
      batch.settle[i]!.resolve(signatureOf(batch.keys[i]!, input));
    } catch (error) {
      batch.settle[i]!.reject(error);
    }
  });
}

/**
 * Signing off the event loop: the signatures asked for during one turn of
 * the event loop go to a thread as one message (setImmediate), or several
 * of up to MAX_SIGNATURES_PER_MESSAGE, so the event loop keeps parsing and
 * answering requests while the thread signs.
 * On a machine with a spare core this is most of a token's CPU moved off
 * the thread that serves every request. A thread that fails is replaced;
 * what it had not answered is signed in the event loop, so no request fails
 * because of it.
 */
export class SigningThreads implements Signatures {
  private threads: SigningThread[] = [];
  private pending = emptyPending();
  private scheduled = false;
  private closed = false;
  private next = 0;

  constructor(
    private readonly count: number,
    private readonly logger?: Logger,
    /** The threads' program; tests replace it with one that fails. */
    private readonly source = THREAD_SOURCE,
  ) {
    if (!Number.isInteger(count) || count < 1) throw new Error("signing threads: count must be a positive integer");
  }

  sign(key: SigningKey, signingInput: string): Promise<string> {
    if (this.closed) return inlineSignatures.sign(key, signingInput);
    return new Promise((resolve, reject) => {
      this.pending.keys.push(key);
      this.pending.inputs.push(signingInput);
      this.pending.settle.push({ resolve, reject });
      if (this.pending.inputs.length >= MAX_SIGNATURES_PER_MESSAGE) {
        this.flush();
        return;
      }
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = emptyPending();
    if (batch.inputs.length === 0) return;
    if (this.closed) {
      signInline(batch);
      return;
    }
    let thread: SigningThread;
    try {
      thread = this.pick();
    } catch (error) {
      this.logger?.error({ err: error }, "cannot start a signing thread; signing in the event loop");
      signInline(batch);
      return;
    }
    thread.send(batch);
  }

  /** Threads start on first use; a batch goes to the least busy one. A thread that is gone has already left `threads`. */
  private pick(): SigningThread {
    if (this.threads.length < this.count) {
      const thread = new SigningThread(this.source, (gone, unanswered, reason) => {
        this.logger?.error({ reason }, "signing thread gone; its batches are signed in the event loop and a new thread starts on demand");
        this.threads = this.threads.filter((candidate) => candidate !== gone);
        for (const batch of unanswered) signInline(batch);
      });
      this.threads.push(thread);
      return thread;
    }
    let best = this.threads[this.next++ % this.threads.length]!;
    for (const thread of this.threads) if (thread.load < best.load) best = thread;
    return best;
  }

  /** For tests and diagnostics: how many threads are running. */
  get running(): number {
    return this.threads.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads;
    this.threads = [];
    await Promise.all(threads.map((thread) => thread.terminate()));
  }
}
