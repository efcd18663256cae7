/**
 * A resource server for `npm run bench -- --propagation`: one process holding
 * one tokensmith/verifier, driven by the bench over IPC (bench/lib/propagation.ts
 * forks it). It verifies the tokens it is sent, polls the tokens it is told
 * are being revoked until verify() answers `revoked` (and says when, on the
 * host's monotonic clock), and counts verify() calls per second.
 *
 * Run as a child only: `node --import tsx --expose-gc bench/lib/verifier-probe.ts`
 * with an IPC channel. The types below are its protocol.
 */
import { PerformanceObserver } from "node:perf_hooks";
import { createVerifier, type Verifier, type VerifierOptions, type VerifierStatus } from "../../src/verifier/index.js";
import { hostClockMs } from "./proc.js";

/** How often each token being revoked is verified again: the resolution of the refusal instant. */
export const PROBE_POLL_MS = 1;

export type ProbeRequest =
  | { type: "start"; verifier: Pick<VerifierOptions, "baseUrl" | "issuer" | "audience" | "clientId" | "clientSecret"> }
  /** Answers the host clock now, to check that the probe and the bench share it. */
  | { type: "clock" }
  /** Verifies each token once; answers "active" or the reason for each. */
  | { type: "verify"; tokens: string[] }
  /** From now on, verifies the token every PROBE_POLL_MS until it is refused as revoked: then a `refused` event. */
  | { type: "watch"; id: number; token: string }
  /** Holds these tokens for `throughput`. */
  | { type: "tokens"; tokens: string[] }
  /** verify() for `seconds`, `concurrency` calls in flight: each call the next of the held tokens in turn (distinct), or always the first (repeated). */
  | { type: "throughput"; seconds: number; repeated: boolean; concurrency: number }
  /** After two full garbage collections. */
  | { type: "memory" }
  | { type: "stop" };

export interface ProbeReplies {
  start: { readyMs: number; status: VerifierStatus };
  clock: { at: number };
  verify: { reasons: string[] };
  watch: Record<string, never>;
  tokens: { held: number };
  /** gcMs: time spent in garbage collection pauses meanwhile. */
  throughput: { calls: number; seconds: number; gcMs: number; inactive: Record<string, number> };
  memory: { heapUsedMb: number; rssMb: number; status: VerifierStatus };
  stop: Record<string, never>;
}

export type ProbeEvent =
  /** The first verify() of token `id` that answered `revoked`, at `at` (hostClockMs). */
  | { event: "refused"; id: number; at: number }
  /** A watched token answered neither active nor revoked (e.g. stale): it is still polled. */
  | { event: "odd"; id: number; reason: string }
  | { event: "error"; message: string };

export type ProbeMessage = ProbeEvent | { seq: number; reply?: unknown; error?: string };

const send = (message: ProbeMessage) => process.send?.(message);
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
const reasonOf = (result: Awaited<ReturnType<Verifier["verify"]>>) => (result.active ? "active" : result.reason);

let verifier: Verifier | undefined;
let held: string[] = [];
const watched = new Map<number, string>();
const oddReported = new Set<string>();
let polling: NodeJS.Timeout | undefined;
/** Milliseconds of garbage-collection pauses since start. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ["gc"] });

function requireVerifier(): Verifier {
  if (verifier === undefined) throw new Error("not started");
  return verifier;
}

/** Verifies every watched token; reports and forgets those refused as revoked. */
async function poll(): Promise<void> {
  polling = undefined;
  const current = requireVerifier();
  await Promise.all(
    [...watched].map(async ([id, token]) => {
      const result = await current.verify(token);
      const at = hostClockMs();
      if (!watched.has(id)) return;
      if (!result.active && result.reason === "revoked") {
        watched.delete(id);
        send({ event: "refused", id, at });
      } else if (!result.active && !oddReported.has(`${id} ${result.reason}`)) {
        oddReported.add(`${id} ${result.reason}`);
        send({ event: "odd", id, reason: result.reason });
      }
    }),
  );
  if (watched.size > 0) polling ??= setTimeout(() => void poll(), PROBE_POLL_MS);
}

async function throughput(seconds: number, repeated: boolean, concurrency: number): Promise<ProbeReplies["throughput"]> {
  const current = requireVerifier();
  if (held.length === 0) throw new Error("no tokens held");
  const inactive: Record<string, number> = {};
  let calls = 0;
  let next = 0;
  const gcAtStart = gcMs;
  const started = performance.now();
  const end = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      // A cached verify() resolves without I/O: a loop of them alone would never let the revocation
      // stream be read (and the verifier would go stale). Every 256 calls, a turn of the event loop,
      // as requests arriving would give it; the clock is read as rarely, for what it costs.
      await new Promise(setImmediate);
      for (let i = 0; i < 256; i++) {
        const token = repeated ? (held[0] as string) : (held[next++ % held.length] as string);
        const result = await current.verify(token);
        calls++;
        if (!result.active) inactive[result.reason] = (inactive[result.reason] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  // GC entries are delivered after the pause: a turn of the event loop lets the last ones in.
  await new Promise(setImmediate);
  return { calls, seconds: elapsed, gcMs: gcMs - gcAtStart, inactive };
}

function memory(): ProbeReplies["memory"] {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return { heapUsedMb: usage.heapUsed / 1024 / 1024, rssMb: usage.rss / 1024 / 1024, status: requireVerifier().status() };
}

async function handle(request: ProbeRequest): Promise<unknown> {
  switch (request.type) {
    case "start": {
      const started = performance.now();
      verifier = createVerifier({ ...request.verifier, onError: (error) => send({ event: "error", message: errorText(error) }) });
      await verifier.ready();
      return { readyMs: performance.now() - started, status: verifier.status() };
    }
    case "clock":
      return { at: hostClockMs() };
    case "verify": {
      const current = requireVerifier();
      const reasons: string[] = [];
      for (const token of request.tokens) reasons.push(reasonOf(await current.verify(token)));
      return { reasons };
    }
    case "watch":
      watched.set(request.id, request.token);
      polling ??= setTimeout(() => void poll(), 0);
      return {};
    case "tokens":
      held = request.tokens;
      return { held: held.length };
    case "throughput":
      return throughput(request.seconds, request.repeated, request.concurrency);
    case "memory":
      return memory();
    case "stop":
      clearTimeout(polling);
      watched.clear();
      await verifier?.close();
      setImmediate(() => process.exit(0));
      return {};
  }
}

process.on("message", (message: { seq: number; request: ProbeRequest }) => {
  handle(message.request).then(
    (reply) => send({ seq: message.seq, reply }),
    (error: unknown) => send({ seq: message.seq, error: errorText(error) }),
  );
});
// The bench is gone (or done): so is this probe.
process.on("disconnect", () => process.exit(0));
