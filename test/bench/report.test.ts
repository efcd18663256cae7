import { describe, expect, it } from "vitest";
import {
  commandsPerRequest,
  compareWithFloors,
  foldRounds,
  propagationVerdicts,
  redisCommandsTable,
  roundsRange,
  sumCommandCounts,
  summarizeLatencies,
  targetVerdicts,
  totalCallsPerRequest,
  type ScenarioResult,
} from "../../bench/lib/report.js";
import type { LoadResult } from "../../bench/lib/tools.js";

/** The bench's arithmetic: rounds folded into medians, and the issue's targets judged from them. */

function load(requestsPerSecond: number, p99 = 5): LoadResult {
  return {
    requests: requestsPerSecond * 10,
    durationSeconds: 10,
    requestsPerSecond,
    latencyMs: { p50: 1, p99, p999: p99 * 2, max: p99 * 3 },
    statuses: { "200": requestsPerSecond * 10 },
    non2xx: 0,
    errors: {},
    errorCount: 0,
    shape: "wrk -t1 -c50",
  };
}

function result(name: string, requestsPerSecond: number, options: { floor?: boolean; family?: ScenarioResult["family"]; p99?: number; cpu?: number } = {}): ScenarioResult {
  return {
    name,
    family: options.family ?? "connect-json-h1",
    tool: "wrk",
    isFloor: options.floor ?? false,
    status: "ok",
    problems: [],
    load: load(requestsPerSecond, options.p99),
    server: { cpuPercent: 100, cpuMicrosPerRequest: options.cpu ?? 1e6 / requestsPerSecond, rssMb: 100, processes: 1 },
  };
}

const FLOOR = { floor: "ping", context: false };

function round(ping: number, issue: number, oauth: number, p99 = 5): ScenarioResult[] {
  const results = [result("ping", ping, { floor: true }), result("issue", issue), result("oauth-token", oauth, { family: "oauth-h1", p99 })];
  compareWithFloors(results, (r) => (r.name === "oauth-token" ? { floor: "ping", context: true } : FLOOR));
  return results;
}

describe("foldRounds", () => {
  it("returns a single round as it is", () => {
    const only = round(10_000, 8_000, 9_000);
    expect(foldRounds([only])).toBe(only);
  });

  it("shows the median round's row and the median of the rounds' own ratios", () => {
    // Round 2 is a slow moment for everything; the ratios of each round stay close.
    const folded = foldRounds([round(10_000, 8_000, 12_000), round(4_000, 3_600, 5_000), round(11_000, 8_250, 11_500)]);
    const issue = folded.find((r) => r.name === "issue")!;
    expect(issue.load?.requestsPerSecond).toBe(8_000);
    expect(issue.rounds?.requestsPerSecond).toEqual([8_000, 3_600, 8_250]);
    expect(issue.vsFloor?.throughput).toBeCloseTo(0.8, 5); // medians of 0.8, 0.9, 0.75
    expect(roundsRange(issue)).toBe("3,600–8,250");
    expect(folded.find((r) => r.name === "ping")?.load?.requestsPerSecond).toBe(10_000);
  });

  it("fails a scenario that failed in any round, naming the round", () => {
    const second = round(10_000, 8_000, 9_000);
    second[1] = { ...second[1]!, status: "failed", problems: ["12 non-2xx responses"] };
    const folded = foldRounds([round(10_000, 8_000, 9_000), second]);
    const issue = folded.find((r) => r.name === "issue")!;
    expect(issue.status).toBe("failed");
    expect(issue.problems).toEqual(["round 2: 12 non-2xx responses"]);
  });
});

describe("targetVerdicts", () => {
  it("judges throughput, p99 and the ratio to the floor", () => {
    const verdicts = targetVerdicts(round(10_000, 7_000, 11_500, 9.5));
    expect(verdicts).toEqual([
      { target: "POST /oauth2/token ≥ 11,000 req/s", measured: "11,500 req/s", met: true },
      { target: "POST /oauth2/token p99 ≤ 10 ms (50 connections, closed loop)", measured: "9.50 ms", met: true },
      { target: "every Connect/gRPC scenario ≥ 0.8× its floor", measured: "below: issue 0.70×", met: false },
    ]);
  });

  it("does not count a failed scenario as meeting anything", () => {
    const results = round(10_000, 9_000, 20_000, 2);
    results[2] = { ...results[2]!, status: "failed" };
    const verdicts = targetVerdicts(results);
    expect(verdicts.map((v) => v.target)).not.toContain("POST /oauth2/token ≥ 11,000 req/s");
    expect(verdicts).toContainEqual({ target: "every Connect/gRPC scenario ≥ 0.8× its floor", measured: "lowest 0.90×", met: true });
  });

  it("misses the p99 target above 10 ms even when throughput is met", () => {
    const verdicts = targetVerdicts(round(10_000, 9_000, 12_000, 14.4));
    expect(verdicts.find((v) => v.target.includes("p99"))).toMatchObject({ met: false, measured: "14.4 ms" });
  });

  it("open loop: serving 99 % of an offered 11k counts as 11k, less does not", () => {
    const close = targetVerdicts(round(10_000, 9_000, 10_900, 3), 11_000);
    expect(close.find((v) => v.target.startsWith("POST /oauth2/token ≥"))?.met).toBe(true);
    const short = targetVerdicts(round(10_000, 9_000, 10_800, 3), 11_000);
    expect(short.find((v) => v.target.startsWith("POST /oauth2/token ≥"))?.met).toBe(false);
    // A lower offered rate never makes 11k easier to claim.
    const low = targetVerdicts(round(10_000, 9_000, 5_000, 3), 5_000);
    expect(low.find((v) => v.target.startsWith("POST /oauth2/token ≥"))?.met).toBe(false);
  });

  it("names the offered rate when the run was open loop", () => {
    const verdicts = targetVerdicts(round(10_000, 9_000, 11_000, 3.2), 11_000);
    expect(verdicts.find((v) => v.target.includes("p99"))).toEqual({
      target: "POST /oauth2/token p99 ≤ 10 ms (11,000 req/s offered, open loop)",
      measured: "3.20 ms",
      met: true,
    });
  });
});

describe("summarizeLatencies", () => {
  it("takes nearest-rank percentiles of the values in any order, and the maximum", () => {
    const values = Array.from({ length: 200 }, (_, i) => 200 - i); // 200 … 1
    expect(summarizeLatencies(values)).toEqual({ count: 200, p50: 100, p99: 198, max: 200 });
  });

  it("sorts numerically (not as text) and keeps negative values (refused before the acknowledgement arrived)", () => {
    expect(summarizeLatencies([9, 100, -0.5, 20])).toEqual({ count: 4, p50: 9, p99: 100, max: 100 });
  });

  it("says NaN for no values", () => {
    expect(summarizeLatencies([])).toEqual({ count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN });
  });
});

describe("propagationVerdicts", () => {
  it("meets both goals with p99 at most 100 ms and no miss", () => {
    const verdicts = propagationVerdicts({ count: 600, p50: 14, p99: 100, max: 180 }, 0, 600, 5_000);
    expect(verdicts.map((v) => v.met)).toEqual([true, true]);
    expect(verdicts[0]?.measured).toBe("p99 100 ms (p50 14.0, max 180, 600 refusals)");
    expect(verdicts[1]).toMatchObject({ target: "0 misses (a revoked token some verifier did not refuse within 5 s)", measured: "0 of 600" });
  });

  it("misses the p99 goal above 100 ms, and the miss goal with one miss", () => {
    const verdicts = propagationVerdicts({ count: 599, p50: 14, p99: 100.5, max: 300 }, 1, 600, 5_000);
    expect(verdicts.map((v) => v.met)).toEqual([false, false]);
    expect(verdicts[1]?.measured).toBe("1 of 600");
  });

  it("meets nothing when nothing was measured", () => {
    const verdicts = propagationVerdicts(summarizeLatencies([]), 0, 0, 5_000);
    expect(verdicts.map((v) => v.met)).toEqual([false, false]);
    expect(verdicts[0]?.measured).toBe("no refusal seen");
  });
});

describe("Redis commands per request", () => {
  const withCalls = (name: string, calls: Record<string, number> | undefined): ScenarioResult => ({ ...result(name, 1000), redisCallsPerRequest: calls });

  it("sums the counts of every node (a Cluster's masters), command by command", () => {
    expect(sumCommandCounts([{ get: 10, set: 2 }, { get: 5, xadd: 1 }, {}])).toEqual({ get: 15, set: 2, xadd: 1 });
    expect(sumCommandCounts([])).toEqual({});
  });

  it("lists the busiest commands first, leaving out the bench's own INFO and what rounds to 0.00", () => {
    const revoke = withCalls("revoke", { info: 0.5, get: 1, set: 1.0, xadd: 1.02, xrange: 0.001 });
    expect(commandsPerRequest(revoke)).toBe("xadd 1.02, get 1.00, set 1.00");
    expect(totalCallsPerRequest(revoke)).toBeCloseTo(3.021);
    expect(commandsPerRequest(withCalls("none", undefined))).toBe("-");
    expect(commandsPerRequest(withCalls("ping", { info: 0.01 }))).toBe("-");
  });

  it("prints a row per scenario that was counted, and nothing when none was", () => {
    const text = redisCommandsTable([withCalls("introspect", { get: 2 }), withCalls("uncounted", undefined), withCalls("ping", {})]);
    expect(text).toContain("redis commands per request");
    expect(text).toMatch(/introspect\s+2\.00\s+get 2\.00/);
    expect(text).toMatch(/ping\s+0\.00\s+-/);
    expect(text).not.toContain("uncounted");
    expect(redisCommandsTable([withCalls("uncounted", undefined)])).toBe("");
  });
});
