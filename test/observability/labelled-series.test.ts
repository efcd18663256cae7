import fc from "fast-check";
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { LabelledCounter, LabelledHistogram } from "../../src/observability/labelled-series.js";

/**
 * The hot-path counters and histograms must render exactly as prom-client's
 * own would for the same observations (Prometheus scrapes one text format).
 */

const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
type Observation = { protocol: "rpc" | "http"; method: string; code: string; seconds: number };

async function render(observations: Observation[]) {
  const ours = new Registry();
  const theirs = new Registry();
  const counter = new LabelledCounter("t_requests_total", "requests", ["protocol", "method", "code"], ours);
  const histogram = new LabelledHistogram("t_duration_seconds", "latency", ["protocol", "method"], BOUNDS, ours);
  const promCounter = new Counter({ name: "t_requests_total", help: "requests", labelNames: ["protocol", "method", "code"], registers: [theirs] });
  const promHistogram = new Histogram({ name: "t_duration_seconds", help: "latency", labelNames: ["protocol", "method"], buckets: BOUNDS, registers: [theirs] });
  for (const { protocol, method, code, seconds } of observations) {
    counter.child({ protocol, method, code }).value += 1;
    histogram.observe(histogram.child({ protocol, method }), seconds);
    promCounter.labels(protocol, method, code).inc();
    promHistogram.labels(protocol, method).observe(seconds);
  }
  return { ours: await ours.metrics(), theirs: await theirs.metrics(), reset: () => (ours.resetMetrics(), theirs.resetMetrics()), registries: { ours, theirs } };
}

describe("LabelledCounter and LabelledHistogram", () => {
  it("render what prom-client renders for the same observations, including bucket edges and +Inf", async () => {
    const edges = [...BOUNDS, 0, 3, 1e-9, 100].map((seconds, i) => ({ protocol: i % 2 ? "rpc" : "http", method: i % 3 ? "Ping" : "/oauth2/token", code: i % 4 ? "ok" : "200", seconds }) as Observation);
    const { ours, theirs } = await render(edges);
    expect(ours).toBe(theirs);
    expect(ours).toMatch(/t_duration_seconds_bucket\{le="0.005",protocol="rpc",method="Ping"\} \d+/);
    expect(ours).toMatch(/t_duration_seconds_bucket\{le="\+Inf",protocol="http",method="\/oauth2\/token"\} \d+/);
  });

  it("agree with prom-client for any sequence of observations", async () => {
    const observation = fc.record({
      protocol: fc.constantFrom<"rpc" | "http">("rpc", "http"),
      method: fc.constantFrom("Ping", "IssueClientToken", "/oauth2/token"),
      code: fc.constantFrom("ok", "Unauthenticated", "200", "401"),
      seconds: fc.double({ min: 0, max: 5, noNaN: true }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 200 }), async (observations) => {
        const { ours, theirs } = await render(observations);
        expect(ours).toBe(theirs);
      }),
      { numRuns: 100 },
    );
  });

  it("reset with the registry to zero, keeping their series (which callers hold), unlike prom-client, which drops them", async () => {
    const { reset, registries } = await render([{ protocol: "rpc", method: "Ping", code: "ok", seconds: 0.002 }]);
    reset();
    const text = await registries.ours.metrics();
    expect(text).toContain('t_requests_total{protocol="rpc",method="Ping",code="ok"} 0');
    expect(text).toContain('t_duration_seconds_bucket{le="+Inf",protocol="rpc",method="Ping"} 0');
    expect(text).toContain('t_duration_seconds_count{protocol="rpc",method="Ping"} 0');
    expect(await registries.theirs.metrics()).not.toContain('method="Ping"');
  });

  it("refuses bucket bounds that do not increase", () => {
    expect(() => new LabelledHistogram("bad", "bad", ["a"], [1, 1], new Registry())).toThrow(/increase/);
  });
});
