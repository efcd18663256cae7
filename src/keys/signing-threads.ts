import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { signatureOf } from "./jws.js";
import type { SigningKey } from "./signing-key.js";
import type { BatchReply, BatchRequest } from "./signing-thread.js";

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

/**
 * What a thread runs: the module signing-thread.ts. After `npm run build` it
 * is the compiled file next to this one. Running the TypeScript sources, a
 * thread does not inherit the loader the main thread registered, so a
 * one-line program registers tsx in it and then imports the same .ts file.
 */
function signingThreadProgram(): string | URL {
  if (!import.meta.url.endsWith(".ts")) return new URL("./signing-thread.js", import.meta.url);
  const tsx = import.meta.resolve("tsx/esm/api");
  const thread = new URL("./signing-thread.ts", import.meta.url).href;
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(thread)}); });`;
}

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
    program: string | URL,
    private readonly onGone: (thread: SigningThread, unanswered: Pending[], reason: string) => void,
    /** Signs, in the event loop, a batch the thread answered with an error. */
    private readonly signInstead: (batch: Pending) => void,
  ) {
    // A string is a CommonJS program (the tsx bootstrap, or a test's stand-in).
    this.worker = new Worker(program, { eval: typeof program === "string", name: "tokensmith-signing" });
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
        const { kid, alg, privateKey, ed25519 } = key;
        if (ed25519 === undefined) request.keys.push({ kid, alg, privateKey });
        else {
          const { publicKey, secretKey, rawPublicKey, engine } = ed25519;
          request.keys.push({ kid, alg, privateKey, ed25519: { privateKey: ed25519.privateKey, publicKey, secretKey, rawPublicKey, engine: engine.name } });
        }
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
      this.signInstead(batch);
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
  private signedInstead = 0;

  constructor(
    private readonly count: number,
    private readonly logger?: Logger,
    /** The threads' program; tests replace it with one that fails. */
    private readonly program: string | URL = signingThreadProgram(),
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
      this.signInstead(batch);
      return;
    }
    thread.send(batch);
  }

  /** Threads start on first use; a batch goes to the least busy one. A thread that is gone has already left `threads`. */
  private pick(): SigningThread {
    if (this.threads.length < this.count) {
      const thread = new SigningThread(
        this.program,
        (gone, unanswered, reason) => {
          this.logger?.error({ reason }, "signing thread gone; its batches are signed in the event loop and a new thread starts on demand");
          this.threads = this.threads.filter((candidate) => candidate !== gone);
          for (const batch of unanswered) this.signInstead(batch);
        },
        (batch) => this.signInstead(batch),
      );
      this.threads.push(thread);
      return thread;
    }
    let best = this.threads[this.next++ % this.threads.length]!;
    for (const thread of this.threads) if (thread.load < best.load) best = thread;
    return best;
  }

  private signInstead(batch: Pending): void {
    this.signedInstead += batch.inputs.length;
    signInline(batch);
  }

  /** For tests and diagnostics: how many signatures the event loop made because a thread could not. */
  get signedInEventLoop(): number {
    return this.signedInstead;
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
