import { median } from "./report.js";

/** One round of an A/B comparison: the same scenario on A, then on B (or B, then A), seconds apart. */
export interface AbRound {
  a: AbSide;
  b: AbSide;
}

export interface AbSide {
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
  /** The event loops' (main threads') CPU per request, when measured. */
  loopMicrosPerRequest?: number;
  p99Ms: number;
}

export interface AbSummary {
  rounds: number;
  /** Median over the rounds of B's CPU per request ÷ A's in the same round. */
  cpuRatio: number;
  /** Each round's CPU ratio, in order. */
  cpuRatios: number[];
  /** Median over the rounds of B's event-loop CPU per request ÷ A's (NaN when not measured). */
  loopRatio: number;
  /** Median over the rounds of B's req/s ÷ A's in the same round. */
  throughputRatio: number;
  a: AbSide;
  b: AbSide;
}

const medianSide = (sides: AbSide[]): AbSide => ({
  requestsPerSecond: median(sides.map((side) => side.requestsPerSecond)),
  cpuMicrosPerRequest: median(sides.map((side) => side.cpuMicrosPerRequest)),
  loopMicrosPerRequest: median(sides.map((side) => side.loopMicrosPerRequest ?? Number.NaN)),
  p99Ms: median(sides.map((side) => side.p99Ms)),
});

/**
 * Ratios are taken within each round first, then the median of those: a
 * slow minute of a shared machine slows both sides of one round, and one
 * odd round moves the median little. Medians of A and B alone are shown
 * for scale only.
 */
export function summarizeAb(rounds: readonly AbRound[]): AbSummary {
  const cpuRatios = rounds.map((round) => round.b.cpuMicrosPerRequest / round.a.cpuMicrosPerRequest);
  return {
    rounds: rounds.length,
    cpuRatio: median(cpuRatios),
    cpuRatios,
    loopRatio: median(rounds.map((round) => (round.b.loopMicrosPerRequest ?? Number.NaN) / (round.a.loopMicrosPerRequest ?? Number.NaN))),
    throughputRatio: median(rounds.map((round) => round.b.requestsPerSecond / round.a.requestsPerSecond)),
    a: medianSide(rounds.map((round) => round.a)),
    b: medianSide(rounds.map((round) => round.b)),
  };
}
