/** Order statistics for small samples (per-round medians) and latency series. */

/** The middle value, or the mean of the two middle ones for an even count; NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nearest-rank percentile (p in 0–100); NaN for an empty series. */
export function percentile(values: ArrayLike<number>, p: number): number {
  return ranked(Float64Array.from(values).sort(), p);
}

/** p50, p90, p99 and the maximum of a latency series, sorting it once. */
export function latencySummary(values: ArrayLike<number>): {
  p50: number;
  p90: number;
  p99: number;
  max: number;
} {
  const sorted = Float64Array.from(values).sort();
  return {
    p50: ranked(sorted, 50),
    p90: ranked(sorted, 90),
    p99: ranked(sorted, 99),
    max: ranked(sorted, 100),
  };
}

function ranked(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** A growable array of doubles, cheap enough to record every response's latency. */
export class Series {
  #values = new Float64Array(1 << 16);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }

  get length(): number {
    return this.#length;
  }

  values(): Float64Array {
    return this.#values.subarray(0, this.#length);
  }
}
