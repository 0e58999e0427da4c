import type { VariantName } from '../shared/protocol.js';
import type { ScenarioName } from './scenarios.js';
import type { Cell } from './summary.js';

export interface TargetResult {
  target: string;
  /** What was measured, in words and numbers. */
  measured: string;
  met: boolean | null;
}

const peers: VariantName[] = ['express-idempotency', 'node-idempotency'];

/** The targets of issue #6, checked against the medians. `met: null` when a cell is missing. */
export function checkTargets(cells: readonly Cell[]): TargetResult[] {
  const cell = (scenario: ScenarioName, variant: VariantName): Cell | undefined =>
    cells.find((c) => c.scenario === scenario && c.variant === variant);
  const results: TargetResult[] = [];

  const ratioTarget = (scenario: ScenarioName, variant: VariantName, floor: number, label: string): void => {
    const c = cell(scenario, variant);
    results.push({
      target: `${label}: ≥ ${floor.toFixed(2)} × bare`,
      measured:
        c?.ratio == null
          ? 'not measured'
          : `${c.ratio.toFixed(2)} × bare (${fmt(c.throughput)} req/s; rounds ${c.ratioRange?.map((r) => r.toFixed(2)).join('–')})`,
      met: c?.ratio == null ? null : c.ratio >= floor && c.verdict.status === 'ok',
    });
  };
  ratioTarget('first', 'idemkit-memory', 0.9, 'memory store, first execution');
  ratioTarget('replay', 'idemkit-memory', 1.0, 'memory store, replay');
  for (const variant of ['idemkit-redis', 'idemkit-postgres'] as const) {
    ratioTarget('first', variant, 0.6, `${variant.slice(8)} store, first execution, 32 connections`);
    ratioTarget('replay', variant, 0.6, `${variant.slice(8)} store, replay, 32 connections`);
    for (const [scenario, floor] of [
      ['first', 2],
      ['replay', 1],
    ] as const) {
      const c = cell(scenario, variant);
      const trips = c?.roundTrips;
      results.push({
        target: `${variant.slice(8)} store, ${scenario === 'first' ? 'first execution' : 'replay'}: exactly ${floor} round trip${floor > 1 ? 's' : ''} per request`,
        measured:
          trips == null
            ? 'not measured'
            : `${trips.toFixed(3)} round trips/request (${c?.storeCalls?.total.toFixed(3)} store calls)`,
        met: trips == null ? null : Math.abs(trips - floor) < 0.005,
      });
    }
  }

  for (const [scenario, label] of [
    ['first', 'first-execution throughput'],
    ['replay', 'replay throughput'],
    ['large-first', 'first-execution throughput, 64 KiB'],
    ['large-replay', 'replay throughput, 64 KiB'],
  ] as const) {
    const ours = cell(scenario, 'idemkit-memory');
    const theirs = peers.map((peer) => cell(scenario, peer));
    const known = ours && theirs.every(Boolean);
    // Ahead only when both measures agree: the medians of req/s, and the medians of each round's
    // ratio to bare, which a machine that speeds up or slows down between rounds does not move.
    const ahead = (c: Cell) =>
      ours!.throughput > c.throughput && (ours!.ratio ?? 0) > (c.ratio ?? Number.POSITIVE_INFINITY);
    results.push({
      target: `ahead of both peers: ${label} (idemkit-memory vs their memory adapters)`,
      measured: known
        ? `${throughputAndRatio(ours)} vs ${theirs.map((c) => `${throughputAndRatio(c!)} (${c!.variant})`).join(', ')}`
        : 'not measured',
      met: known ? theirs.every((c) => ahead(c!)) : null,
    });
  }
  for (const scenario of ['first', 'replay'] as const) {
    const ours = cell(scenario, 'idemkit-memory');
    const theirs = peers.map((peer) => cell(scenario, peer));
    const known = ours && theirs.every(Boolean);
    results.push({
      target: `ahead of both peers: p99 latency, ${scenario === 'first' ? 'first execution' : 'replay'}`,
      measured: known
        ? `${ms(ours.p99)} vs ${theirs.map((c) => `${ms(c!.p99)} (${c!.variant})`).join(', ')}`
        : 'not measured',
      met: known ? theirs.every((c) => ours.p99 < c!.p99) : null,
    });
  }
  for (const variant of ['idemkit-memory', 'idemkit-redis'] as const) {
    const c = cell('duplicates', variant);
    const d = c?.duplicates;
    results.push({
      target: `${variant.slice(8)} store: a waiting duplicate gets the original's response ≤ 5 ms (p99) after it completes`,
      measured: d
        ? `p99 ${ms(d.waiterP99)} (p50 ${ms(d.waiterP50)}), ${pct(d.replayedShare)} of waiters replayed`
        : 'not measured',
      met: d ? d.waiterP99 <= 5 && c.verdict.status === 'ok' : null,
    });
  }
  return results;
}

function throughputAndRatio(c: Cell): string {
  return `${fmt(c.throughput)} req/s (${c.ratio == null ? '?' : c.ratio.toFixed(2)} × bare)`;
}

export function fmt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function ms(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} ms` : 'n/a';
}

export function pct(share: number): string {
  return `${(share * 100).toFixed(share === 1 ? 0 : 1)}%`;
}
