import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { probeNames, type VariantName, variantNames } from '../shared/protocol.js';
import { type ScenarioName, scenarioNames } from './scenarios.js';

export interface Settings {
  rounds: number;
  warmupSeconds: number;
  measureSeconds: number;
  /** The 64 KiB scenarios store about 64 KiB per request; shorter windows keep Redis and the heap small. */
  largeWarmupSeconds: number;
  largeMeasureSeconds: number;
  connections: number;
  /** Keys completed once before a replay scenario, then requested in turn. */
  replayPool: number;
  duplicates: {
    groups: number;
    warmupGroups: number;
    duplicates: number;
    concurrentGroups: number;
    handlerDelayMs: number;
  };
  variants: VariantName[];
  scenarios: ScenarioName[];
  /** A measurement during which other processes used more CPUs than this is made again … */
  maxOtherCpu: number;
  /** … up to this many times in all. */
  maxAttempts: number;
  /**
   * CPU affinity: the server under test on one CPU, the harness (and its load generator) on the
   * others, so neither steals the other's CPU mid-measurement; database servers still float.
   * Off by default (`--pin` turns it on; needs two CPUs and `taskset`): confined to fixed CPUs,
   * the database variants lose more than bare does (see bench/findings.md).
   */
  pin: { server: string; harness: string } | undefined;
  /** The compiled server (set by the harness after building it). */
  serverEntry: string;
  /** Directory for `--cpu-prof` output of every server, when profiling. */
  profileDir: string | undefined;
  /** A complete run (every variant and scenario, full length) rewrites BENCHMARKS.md. */
  complete: boolean;
  /** Only regenerate BENCHMARKS.md and the chart from the last complete run's JSON. */
  reportOnly: boolean;
}

const usage = `npm run bench -- [options]
  --quick                 1 round, 2 s warm-up + 4 s per run (a smoke run; BENCHMARKS.md untouched)
  --rounds N              rounds of all variants (default 3)
  --warmup S --duration S seconds per run, small-body scenarios (default 5 + 10)
  --connections N         autocannon connections (default 32)
  --variants a,b          subset of: ${variantNames.join(', ')};
                          or a probe (bounds, not layers): ${probeNames.join(', ')}
  --scenarios a,b         subset of: ${scenarioNames.join(', ')}
  --profile               run every server under --cpu-prof, summarize its hottest functions
  --pin                   the server on the last CPU, the harness and its load generator on the
                          others (taskset); by default every process may use every CPU
  --report-only           rebuild BENCHMARKS.md and the chart from bench/results/full.json`;

export function parseSettings(argv: string[], profileDir: string): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      variants: { type: 'string' },
      scenarios: { type: 'string' },
      profile: { type: 'boolean', default: false },
      pin: { type: 'boolean', default: false },
      'report-only': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const quick = values.quick === true;
  const variants: VariantName[] = values.variants
    ? list(values.variants, [...variantNames, ...probeNames], 'variant')
    : [...variantNames];
  const scenarios = list(values.scenarios, scenarioNames, 'scenario');
  const warmupSeconds = number(values.warmup, quick ? 2 : 5);
  const measureSeconds = number(values.duration, quick ? 4 : 10);
  const settings: Settings = {
    rounds: number(values.rounds, quick ? 1 : 3),
    warmupSeconds,
    measureSeconds,
    largeWarmupSeconds: Math.min(warmupSeconds, 2),
    largeMeasureSeconds: Math.min(measureSeconds, 5),
    connections: number(values.connections, 32),
    replayPool: 1000,
    duplicates: {
      groups: quick ? 60 : 200,
      warmupGroups: 10,
      duplicates: 8,
      concurrentGroups: 1,
      handlerDelayMs: 20,
    },
    variants,
    scenarios,
    maxOtherCpu: 0.2,
    maxAttempts: quick ? 2 : 4,
    pin: values.pin ? cpuPinning() : undefined,
    serverEntry: '',
    profileDir: values.profile ? profileDir : undefined,
    complete: false,
    reportOnly: values['report-only'] === true,
  };
  settings.complete =
    !quick &&
    !values.profile &&
    settings.rounds >= 3 &&
    settings.measureSeconds >= 10 &&
    variantNames.every((name) => variants.includes(name)) &&
    variants.length === variantNames.length &&
    scenarios.length === scenarioNames.length;
  return settings;
}

/** The last CPU for the server, the rest for the harness. */
function cpuPinning(): Settings['pin'] {
  const cpus = availableParallelism();
  if (cpus < 2) throw new Error(`--pin needs at least two CPUs (this machine has ${cpus})\n${usage}`);
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(`--pin needs taskset (util-linux)\n${usage}`);
  }
  return { server: String(cpus - 1), harness: cpus === 2 ? '0' : `0-${cpus - 2}` };
}

function number(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new Error(`expected a positive number, got ${value}\n${usage}`);
  return parsed;
}

function list<Name extends string>(value: string | undefined, known: readonly Name[], what: string): Name[] {
  if (value === undefined) return [...known];
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!known.includes(name as Name)) throw new Error(`unknown ${what} "${name}"\n${usage}`);
  }
  return names as Name[];
}
