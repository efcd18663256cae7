/**
 * `npm run bench -- --propagation` (issue 18): how soon a revocation is in
 * force in resource servers that verify tokens locally with
 * tokensmith/verifier, and what a verify() costs against Introspect.
 *
 * 1. Propagation: two Tokensmith instances on one Redis, three verifier
 *    processes (bench/lib/verifier-probe.ts) following them in turn. Tokens
 *    are revoked at a steady rate on alternate instances; each verifier polls
 *    the token being revoked and reports its first verify() that answers
 *    `revoked`. Latency = that instant − the Revoke's acknowledgement, on the
 *    host's monotonic clock (hostClockMs), which every process shares.
 * 2. Throughput: verify() calls per second in one verifier process, for
 *    distinct tokens (signature checked every call) and one repeated token
 *    (the verified-token cache), with growing revocation sets seeded into the
 *    change feed and received in the verifier's snapshot; its memory; and
 *    Introspect of the same tokens, for comparison.
 */
import { createTokenClient } from "../../src/client/index.js";
import { basicAuthorization } from "../../src/client/basic-authorization.js";
import type { TokenClient } from "../../src/client/token-client.js";
import { CpuMeter, hostClockMs, microsPerRequest } from "./proc.js";
import {
  dim,
  formatMs,
  formatNumber,
  formatRatio,
  propagationVerdicts,
  summarizeLatencies,
  table,
  verdictLines,
  type LatencySummary,
  type TargetVerdict,
} from "./report.js";
import { seedFeedRevocations } from "./seed.js";
import { BENCH_CLIENT_ID, type SystemUnderTest } from "./server.js";
import { PROBE_POLL_MS } from "./verifier-probe.js";
import { VerifierProbe } from "./verifier-probes.js";

export interface PropagationSettings {
  /** Tokens revoked in the propagation run (0: skip it). */
  revocations: number;
  /** Revocations per second, started on schedule whether or not the previous one was acknowledged. */
  ratePerSecond: number;
  /** Revocations in force for the throughput runs, ascending (each seeded on top of the last); empty: skip them. */
  revokedSets: number[];
  /** Measured seconds of each throughput run. */
  seconds: number;
  log: (message: string) => void;
  /** Checked between steps: throws to stop the run (Ctrl-C). */
  checkpoint: () => void;
}

/** Verifier processes in the propagation run; verifier i follows instance A when i is odd, B when even. */
const VERIFIERS = 3;
/** A revoked token not refused this long after its acknowledgement is a miss. */
export const MISS_AFTER_MS = 5_000;
/** Distinct tokens for the throughput runs: more than the verifier caches (10,000), so cycling through them checks every signature. */
const THROUGHPUT_TOKENS = 20_000;
/** The first ones warm Introspect up; the measured pass uses each of the rest once (the server caches what it verified). */
const INTROSPECT_WARMUP_TOKENS = 3_000;
/** Calls in flight from the one Introspect client (one HTTP/2 connection, gRPC). */
const INTROSPECT_CONCURRENCY = 8;
/** verify() calls in flight in the verifier process during the throughput runs. */
const VERIFY_CONCURRENCY = 1;
const ISSUE_CONCURRENCY = 32;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A gRPC TokenService client of the bench client (Basic), over one HTTP/2
 * connection. No deadline: a call with grpc-timeout is served by connect-node,
 * not by the server's unary fast path (src/rpc/connect-unary-fast-path.ts).
 */
function benchClient(system: SystemUnderTest, baseUrl: string): TokenClient {
  return createTokenClient({ baseUrl, protocol: "grpc", authorization: basicAuthorization(BENCH_CLIENT_ID, system.secrets.clientSecret) });
}

/** `count` access tokens, `concurrency` issued at a time; token i from clients[i % clients.length]. */
async function issueTokens(clients: TokenClient[], count: number, concurrency: number): Promise<string[]> {
  const tokens: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) tokens[i] = (await (clients[i % clients.length] as TokenClient).issueClientToken({})).accessToken;
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tokens;
}

/** What a probe needs to verify the bench's tokens: their issuer, and their audience (the bench client has none registered, so `aud` is the issuer). */
function verifierOptions(system: SystemUnderTest, baseUrl: string) {
  return { baseUrl, issuer: system.issuer, audience: system.issuer, clientId: BENCH_CLIENT_ID, clientSecret: system.secrets.clientSecret };
}

// --- 1. propagation -----------------------------------------------------------------

interface Revocation {
  id: number;
  /** The instance it was revoked on (and issued by). */
  instance: string;
  token: string;
  sentAt?: number;
  ackAt?: number;
  error?: string;
}

interface VerifierRun {
  name: string;
  instance: string;
  /** Token id → the instant of the first verify() that answered revoked. */
  refusedAt: Map<number, number>;
  odd: string[];
  errors: string[];
}

export interface PropagationResult {
  clock: { source: string; maxRoundTripMs: number; consistent: boolean };
  revocations: number;
  ratePerSecond: number;
  /** The Revoke RPC from send to acknowledgement, at the bench. */
  revokeRpc: LatencySummary;
  verifiers: Array<{ name: string; follows: string; latency: LatencySummary; sameInstance: LatencySummary; otherInstance: LatencySummary; misses: number; odd: string[]; errors: string[] }>;
  overall: LatencySummary;
  sameInstance: LatencySummary;
  otherInstance: LatencySummary;
  misses: number;
  expected: number;
  problems: string[];
}

/**
 * Each probe's clock against the bench's: the probe reads the host clock
 * between the bench's send and its receipt of the answer. If every probe's
 * reading falls inside that window, they share the clock (as CLOCK_MONOTONIC
 * is shared on Linux); the round trip bounds how far off it could be.
 */
async function checkClock(probes: VerifierProbe[]): Promise<{ maxRoundTripMs: number; consistent: boolean }> {
  let maxRoundTripMs = 0;
  let consistent = true;
  for (const probe of probes) {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const sent = hostClockMs();
      const { at } = await probe.request({ type: "clock" });
      const received = hostClockMs();
      if (at < sent || at > received) consistent = false;
      best = Math.min(best, received - sent);
    }
    maxRoundTripMs = Math.max(maxRoundTripMs, best);
  }
  return { maxRoundTripMs, consistent };
}

export async function measurePropagation(system: SystemUnderTest, settings: PropagationSettings): Promise<PropagationResult> {
  const { log } = settings;
  const problems: string[] = [];
  log("propagation: starting a second Tokensmith instance (B) on the same Redis…");
  const peer = await system.startPeer();
  const instances = [
    { name: "A", baseUrl: system.baseUrl, client: benchClient(system, system.baseUrl) },
    { name: "B", baseUrl: peer.baseUrl, client: benchClient(system, peer.baseUrl) },
  ];
  const runs: Array<VerifierRun & { probe: VerifierProbe }> = [];
  try {
    for (let v = 0; v < VERIFIERS; v++) {
      const instance = instances[v % instances.length]!;
      runs.push({ name: `v${v + 1}`, instance: instance.name, probe: new VerifierProbe(`v${v + 1}`), refusedAt: new Map(), odd: [], errors: [] });
    }
    for (const run of runs) {
      run.probe.onEvent = (event) => {
        if (event.event === "refused") run.refusedAt.set(event.id, event.at);
        else if (event.event === "odd") run.odd.push(`token ${event.id}: ${event.reason}`);
        else run.errors.push(event.message);
      };
    }
    log(`propagation: ${VERIFIERS} verifier processes (${runs.map((run) => `${run.name} → ${run.instance}`).join(", ")}), waiting for their snapshots…`);
    await Promise.all(runs.map((run) => run.probe.request({ type: "start", verifier: verifierOptions(system, instances.find((i) => i.name === run.instance)!.baseUrl) })));
    const clock = await checkClock(runs.map((run) => run.probe));
    if (!clock.consistent) problems.push("a verifier process read the host clock outside the bench's send/receive window: the clocks are not shared, latencies are suspect");
    settings.checkpoint();

    const revocations: Revocation[] = (await issueTokens(instances.map((i) => i.client), settings.revocations, ISSUE_CONCURRENCY)).map((token, id) => ({
      id,
      instance: (instances[id % instances.length] as { name: string }).name,
      token,
    }));
    // Every verifier must hold each token as active before it is revoked.
    for (const run of runs) {
      const { reasons } = await run.probe.request({ type: "verify", tokens: revocations.map((r) => r.token) });
      const inactive = reasons.filter((reason) => reason !== "active");
      if (inactive.length > 0) throw new Error(`${run.name} did not accept ${inactive.length} fresh tokens (${[...new Set(inactive)].join(", ")})`);
    }
    settings.checkpoint();

    const intervalMs = 1000 / settings.ratePerSecond;
    log(`propagation: revoking ${settings.revocations} tokens, ${formatNumber(settings.ratePerSecond)}/s on alternate instances (A, B, A, …)…`);
    const start = hostClockMs() + 50;
    const acknowledged: Array<Promise<void>> = [];
    for (const revocation of revocations) {
      const wait = start + revocation.id * intervalMs - hostClockMs();
      if (wait > 0) await sleep(wait);
      for (const run of runs) run.probe.request({ type: "watch", id: revocation.id, token: revocation.token }).catch((error: unknown) => run.errors.push(errorText(error)));
      const instance = instances.find((i) => i.name === revocation.instance)!;
      revocation.sentAt = hostClockMs();
      acknowledged.push(
        instance.client.revoke({ token: revocation.token }).then(
          () => void (revocation.ackAt = hostClockMs()),
          (error: unknown) => void (revocation.error = errorText(error)),
        ),
      );
    }
    await Promise.all(acknowledged);
    const failed = revocations.filter((r) => r.error !== undefined);
    if (failed.length > 0) problems.push(`${failed.length} Revoke calls failed (first: ${failed[0]!.error})`);
    const expected = revocations.filter((r) => r.ackAt !== undefined);
    const deadline = Math.max(...expected.map((r) => r.ackAt as number)) + MISS_AFTER_MS;
    const allRefused = () => runs.every((run) => expected.every((r) => run.refusedAt.has(r.id)));
    while (!allRefused() && hostClockMs() < deadline) await sleep(50);
    log(`propagation: ${allRefused() ? "every verifier refused every revoked token" : "some revoked tokens were not refused in time"}`);

    const latencies = (run: VerifierRun, which: (r: Revocation) => boolean) => {
      const values: number[] = [];
      for (const r of expected) {
        const at = run.refusedAt.get(r.id);
        if (at !== undefined && which(r) && at - (r.ackAt as number) <= MISS_AFTER_MS) values.push(at - (r.ackAt as number));
      }
      return values;
    };
    const all = () => true;
    const misses = (run: VerifierRun) => expected.length - latencies(run, all).length;
    const verifiers = runs.map((run) => ({
      name: run.name,
      follows: run.instance,
      latency: summarizeLatencies(latencies(run, all)),
      sameInstance: summarizeLatencies(latencies(run, (r) => r.instance === run.instance)),
      otherInstance: summarizeLatencies(latencies(run, (r) => r.instance !== run.instance)),
      misses: misses(run),
      odd: run.odd,
      errors: run.errors,
    }));
    for (const verifier of verifiers) {
      if (verifier.odd.length > 0) problems.push(`${verifier.name}: a watched token answered neither active nor revoked: ${verifier.odd.slice(0, 3).join("; ")}`);
      if (verifier.errors.length > 0) problems.push(`${verifier.name} reported errors: ${verifier.errors.slice(0, 3).join("; ")}`);
    }
    return {
      clock: { source: "process.hrtime (CLOCK_MONOTONIC), shared by every process on the host", ...clock },
      revocations: settings.revocations,
      ratePerSecond: settings.ratePerSecond,
      revokeRpc: summarizeLatencies(expected.map((r) => (r.ackAt as number) - (r.sentAt as number))),
      verifiers,
      overall: summarizeLatencies(runs.flatMap((run) => latencies(run, all))),
      sameInstance: summarizeLatencies(runs.flatMap((run) => latencies(run, (r) => r.instance === run.instance))),
      otherInstance: summarizeLatencies(runs.flatMap((run) => latencies(run, (r) => r.instance !== run.instance))),
      misses: runs.reduce((total, run) => total + misses(run), 0),
      expected: expected.length * runs.length,
      problems,
    };
  } finally {
    await Promise.all(runs.map((run) => run.probe.stop()));
    await peer.stop();
  }
}

export function propagationReport(result: PropagationResult): { human: string; verdicts: TargetVerdict[] } {
  const cells = (s: LatencySummary) => [formatMs(s.p50), formatMs(s.p99), formatMs(s.max)];
  const rows = [
    ...result.verifiers.map((v) => [`${v.name} (follows ${v.follows})`, formatNumber(v.latency.count), ...cells(v.latency), formatMs(v.sameInstance.p99), formatMs(v.otherInstance.p99), formatNumber(v.misses)]),
    ["all verifiers", formatNumber(result.overall.count), ...cells(result.overall), formatMs(result.sameInstance.p99), formatMs(result.otherInstance.p99), formatNumber(result.misses)],
  ];
  const verdicts = propagationVerdicts(result.overall, result.misses, result.expected, MISS_AFTER_MS);
  const human = [
    table(["verifier", "refused", "p50 ms", "p99 ms", "max ms", "p99 same inst.", "p99 other inst.", "misses"], rows),
    "",
    dim(
      `${formatNumber(result.revocations)} tokens revoked at ${formatNumber(result.ratePerSecond)}/s on alternate instances (A, B, …) of one Redis; ` +
        `latency = a verifier's first verify() answering revoked − the Revoke's acknowledgement at the bench (Revoke RPC p50 ${formatMs(result.revokeRpc.p50)} ms, p99 ${formatMs(result.revokeRpc.p99)} ms).`,
    ),
    dim(
      `Each verifier is a process of its own polling verify() on the token being revoked every ${PROBE_POLL_MS} ms. Clock: ${result.clock.source}; ` +
        `each verifier read it within the bench's send/receive window (${result.clock.consistent ? "yes" : "NO"}, round trip ≤ ${formatMs(result.clock.maxRoundTripMs)} ms).`,
    ),
    dim(`"same inst.": revoked on the instance the verifier follows; "other inst.": on the other one. A miss: not refused within ${formatNumber(MISS_AFTER_MS / 1000)} s (left out of the percentiles).`),
    ...verdictLines("goals (issue 18), this run:", verdicts),
  ].join("\n");
  return { human, verdicts };
}

// --- 2. throughput ------------------------------------------------------------------

interface Rate {
  calls: number;
  callsPerSecond: number;
  /** Of the verifier process, or for Introspect of the server's process tree: % of one core. */
  cpuPercent: number;
  cpuMicrosPerCall: number;
  /** Introspect: CPU of the calling process (the bench) per call. */
  clientCpuMicrosPerCall?: number;
  /** verify(): the share of the run spent in garbage-collection pauses, %. */
  gcPercent?: number;
}

export interface ThroughputRow {
  /** Revocations seeded for this row (cumulative). */
  seeded: number;
  /** What the verifier held after its snapshot (the seeded ones, and those of the propagation run). */
  held: number;
  snapshotSeconds: number;
  heapUsedMb: number;
  rssMb: number;
  verifyDistinct: Rate;
  verifyRepeated: Rate;
  introspectDistinct: Rate;
  introspectRepeated: Rate;
}

export interface ThroughputResult {
  rows: ThroughputRow[];
  /** Heap and RSS growth of the verifier per 100k revocations held, from the first row to the last. */
  perHundredThousand?: { heapMb: number; rssMb: number };
  problems: string[];
}

function rateOf(calls: number, seconds: number, cpuPercent: number): Rate {
  const callsPerSecond = calls / seconds;
  return { calls, callsPerSecond, cpuPercent, cpuMicrosPerCall: microsPerRequest(cpuPercent, callsPerSecond) };
}

/** verify() in the probe for `seconds`; CPU of the probe process. */
async function verifyRate(probe: VerifierProbe, seconds: number, repeated: boolean, problems: string[]): Promise<Rate> {
  await probe.request({ type: "throughput", seconds: Math.min(1, seconds), repeated, concurrency: VERIFY_CONCURRENCY }); // warm-up
  const cpu = new CpuMeter(probe.pid);
  cpu.start();
  const run = await probe.request({ type: "throughput", seconds, repeated, concurrency: VERIFY_CONCURRENCY });
  const cpuPercent = cpu.stop();
  const inactive = Object.entries(run.inactive);
  if (inactive.length > 0) problems.push(`verify() ${repeated ? "repeated" : "distinct"}: ${inactive.map(([reason, n]) => `${n} ${reason}`).join(", ")}`);
  return { ...rateOf(run.calls, run.seconds, cpuPercent), gcPercent: (run.gcMs / 1000 / run.seconds) * 100 };
}

/** Introspect of `tokens` in turn (each once) or of the first one over and over, until they or `seconds` run out; CPU of the server. */
async function introspectRate(system: SystemUnderTest, client: TokenClient, tokens: string[], seconds: number, repeated: boolean, problems: string[]): Promise<Rate> {
  let next = 0;
  let calls = 0;
  let inactive = 0;
  const cpu = new CpuMeter(system.pid);
  const started = performance.now();
  const end = started + seconds * 1000;
  const clientCpu = process.cpuUsage();
  cpu.start();
  const worker = async () => {
    while (performance.now() < end && (repeated || next < tokens.length)) {
      const token = repeated ? (tokens[0] as string) : (tokens[next++] as string);
      const answer = await client.introspect({ token });
      calls++;
      if (!answer.active) inactive++;
    }
  };
  await Promise.all(Array.from({ length: INTROSPECT_CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const cpuPercent = cpu.stop();
  const { user, system: kernel } = process.cpuUsage(clientCpu);
  if (inactive > 0) problems.push(`Introspect ${repeated ? "repeated" : "distinct"}: ${inactive} tokens inactive`);
  return { ...rateOf(calls, elapsed, cpuPercent), clientCpuMicrosPerCall: (user + kernel) / calls };
}

export async function measureThroughput(system: SystemUnderTest, settings: PropagationSettings): Promise<ThroughputResult> {
  const { log } = settings;
  const problems: string[] = [];
  log(`throughput: issuing ${formatNumber(THROUGHPUT_TOKENS)} tokens…`);
  const issuing = performance.now();
  const tokens = await issueTokens([benchClient(system, system.baseUrl)], THROUGHPUT_TOKENS, ISSUE_CONCURRENCY);
  log(`   ${formatNumber((performance.now() - issuing) / 1000, 1)} s`);
  const rows: ThroughputRow[] = [];
  let seeded = 0;
  for (const size of settings.revokedSets) {
    settings.checkpoint();
    if (size > seeded) {
      log(`throughput: seeding ${formatNumber(size - seeded)} revocations (key + change-feed entry each)…`);
      const done = await seedFeedRevocations(system.redis.url, size - seeded);
      log(`   ${formatNumber(done.seconds, 1)} s; the feed holds ${formatNumber(done.feedLength)} entries`);
      seeded = size;
    }
    // A fresh server follows the feed from its end, as any instance at start-up: it does not digest
    // the seeded entries (500 a poll), and its verified-token cache starts empty for Introspect.
    await system.restart();
    const probe = new VerifierProbe(`throughput-${size}`);
    try {
      const started = await probe.request({ type: "start", verifier: verifierOptions(system, system.baseUrl) });
      const memory = await probe.request({ type: "memory" });
      log(`throughput: verifier ready with ${formatNumber(started.status.revokedTokens)} revocations after ${formatNumber(started.readyMs / 1000, 1)} s; heap ${formatNumber(memory.heapUsedMb, 1)} MB`);
      await probe.request({ type: "tokens", tokens });
      const verifyDistinct = await verifyRate(probe, settings.seconds, false, problems);
      const verifyRepeated = await verifyRate(probe, settings.seconds, true, problems);
      await probe.stop();
      const client = benchClient(system, system.baseUrl);
      // Warm-up: the restarted server's code is cold.
      await introspectRate(system, client, tokens.slice(0, INTROSPECT_WARMUP_TOKENS), 1, false, problems);
      await introspectRate(system, client, tokens, 1, true, problems);
      const introspectDistinct = await introspectRate(system, client, tokens.slice(INTROSPECT_WARMUP_TOKENS), settings.seconds, false, problems);
      const introspectRepeated = await introspectRate(system, client, tokens, settings.seconds, true, problems);
      rows.push({
        seeded: size,
        held: memory.status.revokedTokens,
        snapshotSeconds: started.readyMs / 1000,
        heapUsedMb: memory.heapUsedMb,
        rssMb: memory.rssMb,
        verifyDistinct,
        verifyRepeated,
        introspectDistinct,
        introspectRepeated,
      });
      log(
        `   verify ${formatNumber(verifyDistinct.callsPerSecond)}/s distinct, ${formatNumber(verifyRepeated.callsPerSecond)}/s repeated; ` +
          `Introspect ${formatNumber(introspectDistinct.callsPerSecond)}/s distinct, ${formatNumber(introspectRepeated.callsPerSecond)}/s repeated`,
      );
    } finally {
      await probe.stop();
    }
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const perHundredThousand =
    first !== undefined && last !== undefined && last.held > first.held
      ? { heapMb: ((last.heapUsedMb - first.heapUsedMb) / (last.held - first.held)) * 100_000, rssMb: ((last.rssMb - first.rssMb) / (last.held - first.held)) * 100_000 }
      : undefined;
  return { rows, perHundredThousand, problems };
}

export function throughputReport(result: ThroughputResult): string {
  const base = result.rows[0];
  const vsBase = (value: number, of: (row: ThroughputRow) => number) => (base === undefined ? "-" : formatRatio(value / of(base)));
  const perHundredThousand = (row: ThroughputRow, of: (row: ThroughputRow) => number) =>
    base === undefined || row.held <= base.held ? "-" : formatNumber(((of(row) - of(base)) / (row.held - base.held)) * 100_000, 1);
  const verifierRows = result.rows.map((row) => [
    formatNumber(row.held),
    formatNumber(row.snapshotSeconds, 1),
    formatNumber(row.heapUsedMb, 1),
    perHundredThousand(row, (r) => r.heapUsedMb),
    formatNumber(row.rssMb, 1),
    perHundredThousand(row, (r) => r.rssMb),
    formatNumber(row.verifyDistinct.callsPerSecond),
    formatNumber(row.verifyDistinct.cpuMicrosPerCall, 1),
    formatNumber(row.verifyDistinct.gcPercent, 1),
    vsBase(row.verifyDistinct.callsPerSecond, (b) => b.verifyDistinct.callsPerSecond),
    formatNumber(row.verifyRepeated.callsPerSecond),
    formatNumber(row.verifyRepeated.cpuMicrosPerCall, 2),
    formatNumber(row.verifyRepeated.gcPercent, 1),
    vsBase(row.verifyRepeated.callsPerSecond, (b) => b.verifyRepeated.callsPerSecond),
  ]);
  const introspectRows = result.rows.map((row) => [
    formatNumber(row.held),
    formatNumber(row.introspectDistinct.callsPerSecond),
    formatNumber(row.introspectDistinct.cpuMicrosPerCall),
    formatNumber(row.introspectDistinct.clientCpuMicrosPerCall),
    formatNumber(row.introspectRepeated.callsPerSecond),
    formatNumber(row.introspectRepeated.cpuMicrosPerCall),
    formatNumber(row.introspectRepeated.clientCpuMicrosPerCall),
    formatRatio(row.verifyDistinct.callsPerSecond / row.introspectDistinct.callsPerSecond),
    formatRatio(row.verifyRepeated.callsPerSecond / row.introspectRepeated.callsPerSecond),
  ]);
  return [
    table(
      ["revocations held", "snapshot s", "heap MB", "+MB/100k", "RSS MB", "+MB/100k", "distinct calls/s", "µs CPU/call", "GC%", "vs first", "repeated calls/s", "µs CPU/call", "GC%", "vs first"],
      verifierRows,
      0,
    ),
    "",
    dim(
      `verify() in one verifier process (a child of the bench), ${VERIFY_CONCURRENCY} call in flight: "distinct" cycles through ${formatNumber(THROUGHPUT_TOKENS)} valid tokens ` +
        `(more than its 10,000-token cache, so every call checks a signature), "repeated" verifies one token (the cache). CPU: the verifier process, all its threads; GC%: the share of the run in GC pauses.`,
    ),
    dim(
      "Revocations: seeded as a Revoke leaves them (the revoked-jti key and an access_token_revoked entry in the change feed), received by the verifier in its WatchRevocations snapshot; " +
        "held = what the verifier reports (the seeded ones + the propagation run's). snapshot: createVerifier → ready(). " +
        "heap/RSS: after the snapshot and two full GCs, each row a fresh verifier process; +MB/100k: the growth over the first row per 100k more held.",
    ),
    "",
    table(
      ["revocations held", "Introspect distinct calls/s", "srv µs CPU/call", "client µs CPU/call", "repeated calls/s", "srv µs CPU/call", "client µs CPU/call", "verify/Introspect distinct", "verify/Introspect repeated"],
      introspectRows,
      0,
    ),
    "",
    dim(
      `Introspect (gRPC) of the same tokens from one client in the bench process, ${INTROSPECT_CONCURRENCY} calls in flight on one HTTP/2 connection, against a server restarted after seeding ` +
        `(its verified-token cache empty), after 2 s of warm-up: "distinct" uses each token once, "repeated" one token. srv CPU: the server's process tree; client CPU: the bench process. ` +
        "verify/Introspect: the ratio of calls/s.",
    ),
  ].join("\n");
}
