import type { StoreCallCounts, VariantName } from '../shared/protocol.js';
import type { RunRecord, ScenarioName, Verdict } from './scenarios.js';
import { median } from './statistics.js';

/** One (scenario, variant) over all rounds: medians, and the worst verdict. */
export interface Cell {
  scenario: ScenarioName;
  variant: VariantName;
  rounds: number;
  /** Median responses per second. */
  throughput: number;
  /** Median over rounds of (this variant ÷ bare in the same round); null for bare or without bare. */
  ratio: number | null;
  /** The lowest and highest of those per-round ratios: how far one round can be off. */
  ratioRange: [number, number] | null;
  p50: number;
  p99: number;
  /** Median server CPU time per request, µs (robust to other load on the machine). */
  cpuPerRequestUs: number;
  /** Median CPUs' worth of other processes during the measurements. */
  otherCpu: number;
  verdict: Verdict;
  /** Store calls per request the server received (idemkit only), median per method. */
  storeCalls: (StoreCallCounts & { total: number }) | null;
  /** Queries / commands sent to PostgreSQL or Redis per request (idemkit on those stores). */
  roundTrips: number | null;
  duplicates?: {
    waiterP50: number;
    waiterP99: number;
    waiterMax: number;
    afterOriginalP99: number;
    originalP50: number;
    /** The server's event-loop delay p99 during the scenario, ms. */
    loopDelayP99: number;
    /** Waiters answered with the original's response, of all waiters. */
    replayedShare: number;
  };
}

export function summarize(runs: readonly RunRecord[]): Cell[] {
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = `${run.scenario}\u0000${run.variant}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const bareByRound = new Map<string, number>();
  for (const run of runs) {
    if (run.variant === 'bare' && run.load)
      bareByRound.set(`${run.scenario}/${run.round}`, run.load.throughput);
  }
  const cells: Cell[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const loads = group.flatMap((run) => (run.load ? [run.load] : []));
    const ratios = group.flatMap((run) => {
      const bare = bareByRound.get(`${run.scenario}/${run.round}`);
      return run.variant !== 'bare' && run.load && bare ? [run.load.throughput / bare] : [];
    });
    const cell: Cell = {
      scenario: first.scenario,
      variant: first.variant,
      rounds: group.length,
      throughput: median(loads.map((load) => load.throughput)),
      ratio: ratios.length > 0 ? median(ratios) : null,
      ratioRange: ratios.length > 0 ? [Math.min(...ratios), Math.max(...ratios)] : null,
      p50: median(loads.map((load) => load.latency.p50)),
      p99: median(loads.map((load) => load.latency.p99)),
      cpuPerRequestUs: median(group.map((run) => run.serverCpuMsPerRequest * 1000)),
      otherCpu: median(group.map((run) => run.otherCpu ?? 0)),
      verdict: worstVerdict(group.map((run) => run.verdict)),
      storeCalls: storeCallsPerRequest(group),
      roundTrips: roundTripsPerRequest(group),
    };
    const duplicates = group.flatMap((run) => (run.duplicates ? [run.duplicates] : []));
    if (duplicates.length > 0) {
      cell.duplicates = {
        waiterP50: median(duplicates.map((d) => measured(d.waiterLagAfterCompletion.p50))),
        waiterP99: median(duplicates.map((d) => measured(d.waiterLagAfterCompletion.p99))),
        waiterMax: Math.max(...duplicates.map((d) => measured(d.waiterLagAfterCompletion.max))),
        afterOriginalP99: median(duplicates.map((d) => measured(d.waiterLagAfterOriginal.p99))),
        originalP50: median(duplicates.map((d) => measured(d.originalLagAfterCompletion.p50))),
        loopDelayP99: median(group.map((run) => run.server.eventLoopDelay.p99)),
        replayedShare:
          duplicates.reduce((sum, d) => sum + d.waitersReplayed, 0) /
          Math.max(
            1,
            duplicates.reduce((sum, d) => sum + d.waiters, 0),
          ),
      };
    }
    cells.push(cell);
  }
  return cells;
}

function worstVerdict(verdicts: Verdict[]): Verdict {
  const incorrect = verdicts.filter((verdict) => verdict.status === 'incorrect');
  if (incorrect.length === 0) return verdicts[0] ?? { status: 'ok', problems: [] };
  // The first incorrect round's wording, and how often it happened.
  return {
    status: 'incorrect',
    problems: [...incorrect[0]!.problems, `incorrect in ${incorrect.length} of ${verdicts.length} rounds`],
  };
}

function storeCallsPerRequest(group: RunRecord[]): Cell['storeCalls'] {
  const perRun = group.flatMap(({ server }) => {
    const calls = server.storeCalls;
    if (!calls || server.requests === 0) return [];
    const total = calls.acquire + calls.complete + calls.release + calls.renew + calls.get;
    const per = (count: number): number => count / server.requests;
    return [
      {
        acquire: per(calls.acquire),
        complete: per(calls.complete),
        release: per(calls.release),
        renew: per(calls.renew),
        get: per(calls.get),
        watch: per(calls.watch),
        total: per(total),
      },
    ];
  });
  if (perRun.length === 0) return null;
  const pick = (name: keyof StoreCallCounts | 'total'): number => median(perRun.map((calls) => calls[name]));
  return {
    acquire: pick('acquire'),
    complete: pick('complete'),
    release: pick('release'),
    renew: pick('renew'),
    get: pick('get'),
    watch: pick('watch'),
    total: pick('total'),
  };
}

function roundTripsPerRequest(group: RunRecord[]): number | null {
  const perRun = group.flatMap(({ server }) =>
    server.driverRoundTrips !== null && server.requests > 0
      ? [server.driverRoundTrips / server.requests]
      : [],
  );
  return perRun.length > 0 ? median(perRun) : null;
}

/** A latency read back from JSON, where "none measured" (NaN) was written as null. */
function measured(value: number | null): number {
  return typeof value === 'number' ? value : Number.NaN;
}
