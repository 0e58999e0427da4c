import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { latencySummary, Series } from './statistics.js';

/** The request every scenario sends; only the key changes. */
export const chargeBody = JSON.stringify({
  amount: 1999,
  currency: 'usd',
  customer: 'cus_bench',
  capture: true,
});

export interface LoadResult {
  /** Completed responses per second over the run. */
  throughput: number;
  responses: number;
  /** Latency of every response, ms (recorded by the harness from autocannon's events, not its integer histogram). */
  latency: { p50: number; p90: number; p99: number; max: number };
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Send exactly this many requests instead, however long they take (`seconds` is then ignored). */
  requests?: number;
  /** The idempotency key of the next request. */
  nextKey: () => string;
}

/**
 * Hammer the charges route with autocannon for a fixed time, in this (the harness) process.
 * Every variant, `bare` included, gets the same requests: a JSON charge with a key header.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { nextKey } = options;
  const latencies = new Series();
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    pipelining: 1,
    duration: options.seconds,
    ...(options.requests ? { amount: options.requests } : {}),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: chargeBody,
        setupRequest(request) {
          request.headers['idempotency-key'] = nextKey();
          return request;
        },
      },
    ],
  });
  instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  const result = await instance;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  const series = latencies.values();
  return {
    throughput: series.length / result.duration,
    responses: series.length,
    latency: latencySummary(series),
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

/** A fresh UUID per request: every request is a first execution. */
export const uniqueKeys = (): (() => string) => randomUUID;

/** Keys taken in turn from `pool`: after the pool was used once, every request is a replay. */
export function cycleKeys(pool: readonly string[]): () => string {
  let next = 0;
  return () => {
    const key = pool[next]!;
    next = (next + 1) % pool.length;
    return key;
  };
}
