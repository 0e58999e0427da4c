/**
 * The memory store's cost per claim once it is in steady state, against an empty store: at its
 * `maxEntries` bound (every claim evicts the oldest completed record) and under expiry (every claim
 * finds the oldest record expired). A long-running single process reaches one of the two within a
 * day at a little over one request per second. Measured at the store, in a fresh process of its own
 * (the harness's heap would weigh on it), rounds interleaving the three cases.
 *
 *   node --import tsx bench/harness/memory-store-bound.ts   (prints the JSON `measure` returns)
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IdempotencyStore } from '../../src/core/store.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import { median } from './statistics.js';

export interface MemoryStoreBound {
  /** Records held in steady state (the bound, and the live records under expiry). */
  records: number;
  /** Claims measured per case and round. */
  claims: number;
  rounds: number;
  /** Median µs per claim plus completion, each case. */
  emptyUs: number;
  atBoundUs: number;
  expiringUs: number;
}

const records = 100_000;
const claims = 100_000;
const rounds = 3;
const response = { status: 201, headers: [['content-type', 'application/json']] as Array<[string, string]> };
// What the benchmark app answers (~110 bytes), as the response capture hands it over: a Buffer.
const answer = JSON.stringify({
  id: 'ch_123456',
  object: 'charge',
  amount: 1000,
  currency: 'usd',
  requestId: null,
  completedAt: 1_765_000_000_000.123,
});

/** Run the measurement in a fresh process. */
export function measureMemoryStoreBound(): MemoryStoreBound {
  const output = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(output) as MemoryStoreBound;
}

/** µs per claim and completion of `claims` keys, from `first` on, created one ms apart. */
function claimRun(store: IdempotencyStore, first: number, ttl: number): number {
  const started = performance.now();
  for (let i = first; i < first + claims; i++) {
    const key = `k${i}`;
    store.acquire(
      { key, fingerprint: 'f', token: 't', createdAt: i, leaseUntil: i + 30_000, expiresAt: i + ttl },
      i,
    );
    store.complete(key, 't', { ...response, body: Buffer.from(answer) }, i + ttl);
  }
  return ((performance.now() - started) * 1000) / claims;
}

function measure(): MemoryStoreBound {
  const cases = {
    // Claims into a store with room for all of them.
    empty: () => claimRun(memoryStore({ maxEntries: records + claims }), 0, 1e12),
    // A full store: each claim evicts one.
    atBound: () => {
      const store = memoryStore({ maxEntries: records });
      claimRun(store, 0, 1e12);
      return claimRun(store, records, 1e12);
    },
    // Each record lives `records` ms, so each claim finds the oldest expired.
    expiring: () => {
      const store = memoryStore({ maxEntries: 10 * records });
      claimRun(store, 0, records);
      return claimRun(store, records, records);
    },
  };
  const times: Record<keyof typeof cases, number[]> = { empty: [], atBound: [], expiring: [] };
  for (let round = 0; round < rounds; round++) {
    for (const name of Object.keys(cases) as Array<keyof typeof cases>) times[name].push(cases[name]());
  }
  return {
    records,
    claims,
    rounds,
    emptyUs: median(times.empty),
    atBoundUs: median(times.atBound),
    expiringUs: median(times.expiring),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(JSON.stringify(measure()));
