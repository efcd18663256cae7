import { describe, expect, it } from "vitest";
import { summarizeAb, type AbSide } from "../../bench/lib/ab.js";

/** The A/B harness's arithmetic: ratios within each round first, then their median. */

const side = (cpuMicrosPerRequest: number, requestsPerSecond = 10_000, p99Ms = 5): AbSide => ({ cpuMicrosPerRequest, requestsPerSecond, p99Ms });

describe("summarizeAb", () => {
  it("takes the median of each round's own ratio, not the ratio of the medians", () => {
    // The machine halves its speed in round 2: both sides pay, the round's ratio stays 0.9.
    const summary = summarizeAb([
      { a: side(100), b: side(90) },
      { a: side(200), b: side(180) },
      { a: side(100), b: side(95) },
    ]);
    expect(summary.cpuRatios.map((ratio) => Number(ratio.toFixed(3)))).toEqual([0.9, 0.9, 0.95]);
    expect(summary.cpuRatio).toBeCloseTo(0.9, 9);
    expect(summary.a.cpuMicrosPerRequest).toBe(100);
    expect(summary.b.cpuMicrosPerRequest).toBe(95);
    expect(summary.rounds).toBe(3);
  });

  it("one odd round moves the median little; an even count averages the middle two", () => {
    const summary = summarizeAb([
      { a: side(100, 10_000), b: side(50, 20_000) },
      { a: side(100, 10_000), b: side(100, 10_000) },
      { a: side(100, 10_000), b: side(110, 9_000) },
      { a: side(100, 10_000), b: side(120, 8_000) },
    ]);
    expect(summary.cpuRatio).toBeCloseTo(1.05, 9);
    expect(summary.throughputRatio).toBeCloseTo(0.95, 9);
  });

  it("the event loop's ratio is taken per round too, and is NaN when a side did not measure it", () => {
    const withLoop = (cpu: number, loop: number): AbSide => ({ ...side(cpu), loopMicrosPerRequest: loop });
    const summary = summarizeAb([
      { a: withLoop(100, 60), b: withLoop(95, 54) },
      { a: withLoop(200, 120), b: withLoop(190, 96) },
      { a: withLoop(100, 60), b: withLoop(99, 60) },
    ]);
    expect(summary.loopRatio).toBeCloseTo(0.9, 9);
    expect(summarizeAb([{ a: side(100), b: side(90) }]).loopRatio).toBeNaN();
  });

  it("no rounds: NaN, not a number that looks measured", () => {
    expect(summarizeAb([]).cpuRatio).toBeNaN();
  });
});
