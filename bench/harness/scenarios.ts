import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerStats, VariantName } from '../shared/protocol.js';
import { type DuplicatesResult, runDuplicates } from './duplicates.js';
import { chargeBody, cycleKeys, type LoadResult, runLoad, uniqueKeys } from './load.js';
import { databasePids, ForeignCpu, processJiffies, waitForQuiet } from './quiet.js';
import { ServerProcess } from './server-process.js';
import type { Settings } from './settings.js';

/**
 * Whether a variant talks to a PostgreSQL or Redis server, whose CPU is then the variant's own, not
 * a foreign load. A record, so that a new variant cannot be left out.
 */
const usesDatabaseServer: Record<VariantName, boolean> = {
  bare: false,
  'idemkit-memory': false,
  'idemkit-sqlite': false,
  'idemkit-postgres': true,
  'idemkit-redis': true,
  'express-idempotency': false,
  'node-idempotency': false,
  'floor-memory': false,
  'floor-postgres': true,
};

export const scenarioNames = ['first', 'replay', 'duplicates', 'large-first', 'large-replay'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

/**
 * Whether a variant can answer a scenario at all. The PostgreSQL floor never replays (a key seen
 * before is answered 409), so only first executions are run on it.
 */
export function variantServes(variant: VariantName, spec: ScenarioSpec): boolean {
  return variant !== 'floor-postgres' || spec.kind === 'first';
}

export interface ScenarioSpec {
  name: ScenarioName;
  title: string;
  kind: 'first' | 'replay' | 'duplicates';
  /** Size of the handler's response body, bytes (0: a small charge, about 150 bytes). */
  responseBytes: number;
}

export const scenarios: Record<ScenarioName, ScenarioSpec> = {
  first: { name: 'first', title: 'First execution (a new key per request)', kind: 'first', responseBytes: 0 },
  replay: {
    name: 'replay',
    title: 'Replay (a pool of completed keys, hammered)',
    kind: 'replay',
    responseBytes: 0,
  },
  duplicates: {
    name: 'duplicates',
    title: 'Concurrent duplicates (identical requests per key, together)',
    kind: 'duplicates',
    responseBytes: 0,
  },
  'large-first': {
    name: 'large-first',
    title: 'First execution, 64 KiB response',
    kind: 'first',
    responseBytes: 64 * 1024,
  },
  'large-replay': {
    name: 'large-replay',
    title: 'Replay, 64 KiB response',
    kind: 'replay',
    responseBytes: 64 * 1024,
  },
};

export interface Verdict {
  /** `baseline` for bare, which promises nothing. */
  status: 'ok' | 'incorrect' | 'baseline';
  problems: string[];
}

export interface RunRecord {
  round: number;
  variant: VariantName;
  scenario: ScenarioName;
  load?: LoadResult;
  duplicates?: DuplicatesResult;
  /** Server counters for the measured phase (keys: over the process's life). */
  server: ServerStats;
  /** CPU time the server process used per request it received during the measured phase, ms. */
  serverCpuMsPerRequest: number;
  verdict: Verdict;
  /** The directory the server's CPU profiles went to, when profiling. */
  cpuProfile?: string;
  /** Busy share of all CPUs just before the measurement (the harness waits for a quiet machine). */
  busyBefore?: number;
  /**
   * CPUs' worth of time taken by processes other than the harness, the server and the database
   * servers during the measured phase (other work on a shared machine).
   */
  otherCpu?: number;
  /** Measurements made: more than 1 when other processes disturbed the earlier ones. */
  attempts: number;
}

type Measured = Pick<
  RunRecord,
  'load' | 'duplicates' | 'server' | 'serverCpuMsPerRequest' | 'busyBefore' | 'otherCpu'
>;

/**
 * One scenario against one variant: a fresh server process, warm-up, measurement, verdict. When
 * other processes took more than `settings.maxOtherCpu` CPUs during the measurement, it is made
 * again (same server, after another warm-up), and the least disturbed attempt is kept.
 */
export async function runScenario(
  spec: ScenarioSpec,
  variant: VariantName,
  round: number,
  settings: Settings,
): Promise<RunRecord> {
  const profileDir = settings.profileDir
    ? join(settings.profileDir, `${variant}-${spec.name}-r${round}`)
    : undefined;
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  const server = await ServerProcess.start({
    entry: settings.serverEntry,
    variant,
    responseBytes: spec.responseBytes,
    cpuProfileDir: profileDir,
    cpus: settings.pin?.server,
  });
  try {
    const large = spec.responseBytes > 0;
    const warmup = large ? settings.largeWarmupSeconds : settings.warmupSeconds;
    const seconds = large ? settings.largeMeasureSeconds : settings.measureSeconds;
    const otherCpu = new ForeignCpu(() => [
      process.pid,
      server.pid,
      ...(usesDatabaseServer[variant] ? databasePids() : []),
    ]);
    const problems: string[] = [];

    let nextKey = uniqueKeys();
    if (spec.kind === 'replay') {
      const pool = await replayKeys(server.url, settings.replayPool, settings.connections);
      if (pool.failed > 0)
        problems.push(`${pool.failed} of ${settings.replayPool} first requests were not answered 201`);
      nextKey = pool.nextKey;
    }

    const measureOnce = async (): Promise<Measured> => {
      const busyBefore = await waitForQuiet();
      if (spec.kind !== 'duplicates') {
        await runLoad({ url: server.url, connections: settings.connections, seconds: warmup, nextKey });
        // Let the warm-up's last requests finish before zeroing the counters.
        await sleep(250);
      }
      await server.reset();
      const cpuBefore = processJiffies(server.pid);
      otherCpu.start();
      const measured: Pick<RunRecord, 'load' | 'duplicates'> =
        spec.kind === 'duplicates'
          ? {
              duplicates: await runDuplicates({
                url: server.url,
                ...settings.duplicates,
                clockOffset: await server.clockOffset(),
              }),
            }
          : { load: await runLoad({ url: server.url, connections: settings.connections, seconds, nextKey }) };
      const other = otherCpu.stop();
      const cpuMs = (processJiffies(server.pid) - cpuBefore) * 10;
      await sleep(250);
      const stats = await server.stats();
      return {
        ...measured,
        server: stats,
        serverCpuMsPerRequest: cpuMs / Math.max(1, stats.requests),
        busyBefore,
        otherCpu: other,
      };
    };

    const attempts: Measured[] = [];
    for (let attempt = 1; attempt <= settings.maxAttempts; attempt++) {
      const measured = await measureOnce();
      attempts.push(measured);
      if ((measured.otherCpu ?? 0) <= settings.maxOtherCpu) break;
      console.log(
        `  ${variant} ${spec.name}: other processes used ${measured.otherCpu?.toFixed(2)} CPUs, measuring again`,
      );
    }
    const best = attempts.reduce((a, b) => ((b.otherCpu ?? 0) < (a.otherCpu ?? 0) ? b : a));
    const verdict = best.duplicates
      ? judgeDuplicates(variant, best.duplicates, best.server)
      : judgeLoad(variant, spec, best.load!, best.server, problems);
    return {
      round,
      variant,
      scenario: spec.name,
      ...best,
      verdict,
      attempts: attempts.length,
      ...(profileDir ? { cpuProfile: profileDir } : {}),
    };
  } finally {
    await server.stop();
  }
}

/**
 * Use `size` fresh keys once each (first executions, `concurrency` at a time), and return the
 * key source that replays them in turn, with how many of those first requests were not answered 201.
 */
export async function replayKeys(
  url: string,
  size: number,
  concurrency: number,
): Promise<{ nextKey: () => string; failed: number }> {
  const keys = Array.from({ length: size }, () => randomUUID());
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: chargeBody,
      });
      await response.arrayBuffer();
      if (response.status !== 201) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { nextKey: cycleKeys(keys), failed };
}

function judgeLoad(
  variant: VariantName,
  spec: ScenarioSpec,
  load: LoadResult,
  stats: ServerStats,
  problems: string[],
): Verdict {
  if (variant === 'bare') return { status: 'baseline', problems: [] };
  const not201 = load.responses - (load.statusCodes['201'] ?? 0);
  if (not201 > 0) problems.push(`${not201} responses were not 201 (${describeCodes(load.statusCodes)})`);
  if (load.errors > 0 || load.timeouts > 0) problems.push(`${load.errors} errors, ${load.timeouts} timeouts`);
  if (stats.keysExecutedMoreThanOnce > 0) {
    problems.push(`the handler ran more than once for ${stats.keysExecutedMoreThanOnce} keys`);
  }
  if (spec.kind === 'replay' && stats.executions > 0) {
    problems.push(`${stats.executions} replays ran the handler instead of replaying`);
  }
  return { status: problems.length === 0 ? 'ok' : 'incorrect', problems };
}

function judgeDuplicates(variant: VariantName, result: DuplicatesResult, stats: ServerStats): Verdict {
  if (variant === 'bare') return { status: 'baseline', problems: [] };
  const problems: string[] = [];
  const runTwice = Math.max(result.keysRunSeveralTimes, stats.keysExecutedMoreThanOnce);
  if (runTwice > 0) problems.push(`the handler ran more than once for ${runTwice} keys`);
  const failed = result.waiters - result.waitersReplayed;
  if (failed > 0) {
    problems.push(
      `${failed} of ${result.waiters} duplicates did not get the original's response (${describeCodes(result.waitersFailed)})`,
    );
  }
  return { status: problems.length === 0 ? 'ok' : 'incorrect', problems };
}

function describeCodes(codes: Record<string, number>): string {
  return Object.entries(codes)
    .map(([code, count]) => `${code}: ${count}`)
    .join(', ');
}
