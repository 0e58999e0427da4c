import { createServer, type Server } from 'node:http';
import type { IdempotencyEventType } from '../core/events.js';

/** A counter with one label, exposed as `name{label="value"} n`. */
export interface Counter {
  inc(labelValue: string, by?: number): void;
}

export interface Metrics {
  /** `idemkit_requests_total{outcome}`: one per idempotency outcome (an `onEvent` event). */
  readonly outcomes: Counter;
  /** Record one store call: its latency, and whether it failed. */
  observeStore(operation: string, seconds: number, failed: boolean): void;
  /** Add a counter of your own (the proxy counts upstream failures). */
  counter(name: string, help: string, label: string, initial?: readonly string[]): Counter;
  /** Everything, in the Prometheus text exposition format (version 0.0.4). */
  render(): string;
}

const outcomeTypes: readonly IdempotencyEventType[] = [
  'executed',
  'replayed',
  'waited',
  'conflict',
  'mismatch',
  'invalid-key',
  'lease-lost',
  'not-stored',
  'store-error',
];
export const storeOperations = ['acquire', 'complete', 'release', 'renew', 'get', 'purgeExpired'] as const;
/** Seconds. Store calls are usually sub-millisecond (memory, SQLite) to tens of ms (a remote server). */
const bucketBounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * Counters and a latency histogram, rendered for Prometheus without a client library (the format
 * is a few lines of text, and the CLI should not pull in dependencies).
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * metrics.outcomes.inc('replayed');
 * const server = metricsServer(metrics); // GET /metrics
 * ```
 */
export function createMetrics(): Metrics {
  const sections: Array<() => string> = [];
  const histograms = new Map<string, Histogram>();
  const counter = (name: string, help: string, label: string, initial: readonly string[] = []): Counter => {
    const values = new Map<string, number>(initial.map((value) => [value, 0]));
    sections.push(() => {
      const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} counter`];
      for (const [value, n] of values) lines.push(`${name}{${label}="${escapeLabel(value)}"} ${n}`);
      return lines.join('\n');
    });
    return { inc: (value, by = 1) => values.set(value, (values.get(value) ?? 0) + by) };
  };
  const outcomes = counter(
    'idemkit_requests_total',
    'Requests by idempotency outcome (one request may report executed and not-stored).',
    'outcome',
    outcomeTypes,
  );
  const storeErrors = counter(
    'idemkit_store_errors_total',
    'Store calls that failed or timed out, by operation.',
    'operation',
    storeOperations,
  );
  for (const operation of storeOperations) {
    histograms.set(operation, { buckets: bucketBounds.map(() => 0), sum: 0, count: 0 });
  }
  sections.push(() => {
    const name = 'idemkit_store_operation_duration_seconds';
    const lines = [`# HELP ${name} Latency of store calls, by operation.`, `# TYPE ${name} histogram`];
    for (const [operation, histogram] of histograms) {
      const label = `operation="${escapeLabel(operation)}"`;
      bucketBounds.forEach((bound, i) => {
        lines.push(`${name}_bucket{${label},le="${bound}"} ${histogram.buckets[i]}`);
      });
      lines.push(`${name}_bucket{${label},le="+Inf"} ${histogram.count}`);
      lines.push(`${name}_sum{${label}} ${histogram.sum}`);
      lines.push(`${name}_count{${label}} ${histogram.count}`);
    }
    return lines.join('\n');
  });

  return {
    outcomes,
    counter,
    observeStore(operation, seconds, failed) {
      let histogram = histograms.get(operation);
      if (!histogram) {
        histogram = { buckets: bucketBounds.map(() => 0), sum: 0, count: 0 };
        histograms.set(operation, histogram);
      }
      // Cumulative buckets: a 3 ms call counts in le=0.005 and every bucket above it.
      bucketBounds.forEach((bound, i) => {
        if (seconds <= bound) histogram.buckets[i]!++;
      });
      histogram.sum += seconds;
      histogram.count++;
      if (failed) storeErrors.inc(operation);
    },
    render: () => `${sections.map((section) => section()).join('\n')}\n`,
  };
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * An HTTP server answering `GET /metrics` (unstarted).
 *
 * @example
 * ```ts
 * metricsServer(metrics).listen(9464, '127.0.0.1');
 * ```
 */
export function metricsServer(metrics: Metrics): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    response
      .writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      })
      .end(request.method === 'HEAD' ? undefined : metrics.render());
  });
}
