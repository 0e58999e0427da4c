/**
 * `npm run bench`: the idempotency layers of bench/server under load from autocannon, in rounds,
 * each server in its own process. A complete run writes bench/results/full.json, BENCHMARKS.md
 * and bench/results/chart.svg; other runs write bench/results/<quick|partial|profile>.json and
 * print their table. See `npm run bench -- --help`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildServer, removeBuild } from './harness/build.js';
import { throughputChart } from './harness/chart.js';
import type { BenchDocument } from './harness/document.js';
import { describeMachine } from './harness/machine.js';
import { measureMemoryStoreBound } from './harness/memory-store-bound.js';
import { mainThreadProfile, summarizeProfile } from './harness/profile-summary.js';
import { benchmarksMarkdown, consoleTable } from './harness/report.js';
import { type RunRecord, runScenario, scenarios, variantServes } from './harness/scenarios.js';
import { parseSettings } from './harness/settings.js';
import { summarize } from './harness/summary.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const profileDir = `${resultsDir}profiles`;
const fullResults = `${resultsDir}full.json`;

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2), profileDir);
  mkdirSync(resultsDir, { recursive: true });
  if (settings.reportOnly) {
    writeReport(JSON.parse(readFileSync(fullResults, 'utf8')) as BenchDocument);
    return;
  }
  if (settings.profileDir) mkdirSync(settings.profileDir, { recursive: true });

  const started = performance.now();
  // Every thread of the harness, autocannon's included, off the server's CPU.
  if (settings.pin)
    execFileSync('taskset', ['-a', '-p', '-c', settings.pin.harness, String(process.pid)], {
      stdio: 'ignore',
    });
  settings.serverEntry = buildServer();
  // Interrupted: the server child sees its IPC channel close and exits on its own.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      removeBuild(settings.serverEntry);
      process.exit(130);
    });
  }
  const machine = await describeMachine();
  const runs: RunRecord[] = [];
  // The variants each scenario runs, and what a probe variant cannot answer, said once up front.
  const servedBy = new Map(
    settings.scenarios.map((scenario) => [
      scenario,
      new Set(settings.variants.filter((variant) => variantServes(variant, scenarios[scenario]))),
    ]),
  );
  let total = 0;
  for (const [scenario, served] of servedBy) {
    total += settings.rounds * served.size;
    const left = settings.variants.filter((variant) => !served.has(variant));
    if (left.length > 0) console.log(`not run on ${scenario}: ${left.join(', ')} (it cannot answer it)`);
  }
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      // Rotate the order each round, so no variant always runs first (cold machine) or last.
      const offset = (round - 1) % settings.variants.length;
      const order = [...settings.variants.slice(offset), ...settings.variants.slice(0, offset)];
      for (const scenario of settings.scenarios) {
        for (const variant of order.filter((name) => servedBy.get(scenario)!.has(name))) {
          const run = await runScenario(scenarios[scenario], variant, round, settings);
          runs.push(run);
          console.log(`[${runs.length}/${total}] round ${round} ${scenario} ${variant}: ${describeRun(run)}`);
        }
      }
    }
  } finally {
    removeBuild(settings.serverEntry);
  }
  const memoryStoreBound = settings.variants.includes('idemkit-memory')
    ? measureMemoryStoreBound()
    : undefined;
  if (memoryStoreBound) console.log(`memory store, µs per claim: ${describeBound(memoryStoreBound)}`);
  const document: BenchDocument = {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    wallTimeSeconds: Math.round((performance.now() - started) / 1000),
    machine,
    settings,
    runs,
    memoryStoreBound,
  };
  if (settings.profileDir) {
    document.profiles = runs.flatMap((run) =>
      run.cpuProfile ? [summarizeProfile(mainThreadProfile(run.cpuProfile))] : [],
    );
  }
  const name = settings.complete
    ? 'full'
    : settings.profileDir
      ? 'profile'
      : process.argv.includes('--quick')
        ? 'quick'
        : 'partial';
  writeFileSync(`${resultsDir}${name}.json`, `${JSON.stringify(document, null, 2)}\n`);
  console.log(`\n${consoleTable(summarize(runs))}`);
  console.log(`\nwrote bench/results/${name}.json (${document.wallTimeSeconds} s)`);
  if (settings.complete) writeReport(document);
}

function writeReport(document: BenchDocument): void {
  const cells = summarize(document.runs);
  writeFileSync(`${resultsDir}chart.svg`, throughputChart(cells, document.settings.variants));
  let profile: BenchDocument | undefined;
  try {
    profile = JSON.parse(readFileSync(`${resultsDir}profile.json`, 'utf8')) as BenchDocument;
  } catch {
    profile = undefined;
  }
  let findings = '';
  try {
    findings = readFileSync(fileURLToPath(new URL('./findings.md', import.meta.url)), 'utf8');
  } catch {
    findings = '';
  }
  writeFileSync(`${root}BENCHMARKS.md`, benchmarksMarkdown({ document, cells, profile, findings }));
  console.log('wrote BENCHMARKS.md and bench/results/chart.svg');
}

function describeBound(bound: NonNullable<BenchDocument['memoryStoreBound']>): string {
  return `empty ${bound.emptyUs.toFixed(2)}, at its bound ${bound.atBoundUs.toFixed(2)}, expiring ${bound.expiringUs.toFixed(2)}`;
}

function describeRun(run: RunRecord): string {
  const verdict = run.verdict.status === 'incorrect' ? ` ✘ ${run.verdict.problems.join('; ')}` : '';
  if (run.duplicates) {
    const d = run.duplicates;
    return `waiters ${d.waitersReplayed}/${d.waiters} replayed, lag p50 ${d.waiterLagAfterCompletion.p50.toFixed(2)} ms p99 ${d.waiterLagAfterCompletion.p99.toFixed(2)} ms${verdict}`;
  }
  const load = run.load!;
  const calls = run.server.storeCalls;
  const perRequest = calls
    ? `, store calls/req ${((calls.acquire + calls.complete + calls.release + calls.renew + calls.get) / run.server.requests).toFixed(2)}`
    : '';
  return `${Math.round(load.throughput)} req/s, p50 ${load.latency.p50.toFixed(2)} ms, p99 ${load.latency.p99.toFixed(2)} ms, server CPU ${(run.serverCpuMsPerRequest * 1000).toFixed(0)} µs/req${perRequest}, other CPU ${run.otherCpu?.toFixed(2) ?? '?'}${verdict}`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
