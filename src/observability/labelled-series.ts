import type { Registry } from "prom-client";

/**
 * Counters and histograms for the per-request hot path, registered in a
 * prom-client Registry (which renders them like its own). prom-client's
 * label children hash their label object again on every `inc`/`observe`;
 * a series here is looked up once by the caller and then updated with a
 * few arithmetic operations and no allocation.
 */

type Labels<L extends string> = Record<L, string>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

abstract class LabelledMetric<L extends string, S extends { labels: Labels<L> }> {
  readonly aggregator = "sum";
  protected readonly series = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series for these label values, created on first use. Keep it: updating it is the cheap part. */
  protected seriesFor(labels: Labels<L>): S {
    const key = this.labelNames.map((name) => labels[name]).join("\u0000");
    let found = this.series.get(key);
    if (found === undefined) {
      found = this.create({ ...labels });
      this.series.set(key, found);
    }
    return found;
  }

  protected abstract create(labels: Labels<L>): S;
  abstract get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] };
  abstract reset(): void;
}

export interface CounterSeries<L extends string> {
  labels: Labels<L>;
  value: number;
}

export class LabelledCounter<L extends string> extends LabelledMetric<L, CounterSeries<L>> {
  readonly type = "counter";

  child(labels: Labels<L>): CounterSeries<L> {
    return this.seriesFor(labels);
  }

  protected create(labels: Labels<L>): CounterSeries<L> {
    return { labels, value: 0 };
  }

  get() {
    const values = [...this.series.values()].map((series) => ({ labels: { ...series.labels }, value: series.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const series of this.series.values()) series.value = 0;
  }
}

export interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class LabelledHistogram<L extends string> extends LabelledMetric<L, HistogramSeries<L>> {
  readonly type = "histogram";

  constructor(name: string, help: string, labelNames: readonly L[], private readonly bounds: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    if (bounds.some((bound, i) => i > 0 && bound <= (bounds[i - 1] as number))) throw new Error(`${name}: bucket bounds must increase`);
  }

  child(labels: Labels<L>): HistogramSeries<L> {
    return this.seriesFor(labels);
  }

  observe(series: HistogramSeries<L>, value: number): void {
    const { bounds } = this;
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
    series.counts[bucket] = (series.counts[bucket] as number) + 1;
    series.sum += value;
    series.count += 1;
  }

  protected create(labels: Labels<L>): HistogramSeries<L> {
    return { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
  }

  /** prom-client's histogram shape: cumulative `_bucket`s with `le` first, then `_sum` and `_count`. */
  get() {
    const values: MetricValue[] = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += series.counts[i] as number;
        const le = i < this.bounds.length ? (this.bounds[i] as number) : "+Inf";
        values.push({ labels: { le, ...series.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
