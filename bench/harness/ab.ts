/**
 * Is the working tree faster than another commit? Server CPU per request and throughput of one
 * variant and scenario, measured in paired, alternating slices of two server processes: one
 * built from the working tree, one from `--base` (a git ref, checked out into a temporary
 * worktree). On this machine a run's cost drifts by ±20% over minutes, far more than most changes
 * move it; slices a few seconds apart share that drift, so the median of per-pair ratios shows
 * differences of a few percent that separate runs cannot.
 *
 *   node --import tsx bench/harness/ab.ts --base HEAD~1 [--variant idemkit-memory]
 *     [--scenario first|replay] [--pairs 10] [--seconds 3]
 *
 * Not part of `npm run bench`: a tool for judging one change before it lands.
 */
import { execFileSync, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type VariantName, variantNames } from '../shared/protocol.js';
import { buildServer, removeBuild } from './build.js';
import { cycleKeys, runLoad, uniqueKeys } from './load.js';
import { processJiffies, waitForQuiet } from './quiet.js';
import { prefill } from './scenarios.js';
import { median } from './statistics.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    variant: { type: 'string', default: 'idemkit-memory' },
    scenario: { type: 'string', default: 'first' },
    pairs: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
  },
});
const abVariants = variantNames.filter((name) => name === 'bare' || name.startsWith('idemkit-'));
const variant = values.variant as VariantName;
if (!values.base || !abVariants.includes(variant) || !['first', 'replay'].includes(values.scenario)) {
  console.error(
    `usage: ab.ts --base <git ref> [--variant ${abVariants.join('|')}] [--scenario first|replay] [--pairs N] [--seconds S]`,
  );
  process.exit(2);
}
const pairs = Number(values.pairs);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

const sides = ['base', 'work'] as const;
type Side = (typeof sides)[number];

interface Slice {
  cpuUsPerRequest: number;
  throughput: number;
}

const worktree = mkdtempSync(join(tmpdir(), 'idemkit-ab-'));
execFileSync('git', ['-C', root, 'worktree', 'add', '--detach', worktree, values.base], { stdio: 'ignore' });
symlinkSync(join(root, 'node_modules'), join(worktree, 'node_modules'), 'dir');
const entries = { base: buildServer(worktree, '-base'), work: buildServer(root, '-work') };
const buildDir = (entry: string): string => join(entry, '..', '..', '..');
const child = fork(fileURLToPath(new URL('ab-server.mjs', import.meta.url)), [
  variant,
  buildDir(entries.base),
  buildDir(entries.work),
]);

/** Send a message to the server and wait for its reply. */
function ask<Reply>(message: object): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`ab-server exited (code ${code})`));
    child.once('exit', onExit);
    child.once('message', (reply) => {
      child.off('exit', onExit);
      resolve(reply as Reply);
    });
    if (Object.keys(message).length > 0) child.send(message);
  });
}

try {
  const { ports } = await ask<{ ports: Record<Side, number> }>({});
  const url = (side: Side): string => `http://127.0.0.1:${ports[side]}/v1/charges`;
  const nextKeys = { base: uniqueKeys(), work: uniqueKeys() };
  if (values.scenario === 'replay') {
    for (const side of sides) {
      const pool = Array.from({ length: 1000 }, () => randomUUID());
      await prefill(url(side), pool, connections);
      nextKeys[side] = cycleKeys(pool);
    }
  }
  const slice = async (side: Side, measureSeconds: number): Promise<Slice> => {
    await ask({ type: 'reset', side });
    const before = processJiffies(child.pid!);
    const load = await runLoad({
      url: url(side),
      connections,
      seconds: measureSeconds,
      nextKey: nextKeys[side],
    });
    const cpuMs = (processJiffies(child.pid!) - before) * 10;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { requests } = await ask<{ requests: number }>({ type: 'requests', side });
    return { cpuUsPerRequest: (cpuMs * 1000) / Math.max(1, requests), throughput: load.throughput };
  };

  // Warm both up (JIT, caches) before anything counts.
  for (const side of sides) await slice(side, 3);
  const cpuRatios: number[] = [];
  const throughputRatios: number[] = [];
  for (let pair = 1; pair <= pairs; pair++) {
    await waitForQuiet();
    // Alternate which side goes first, so a drift within a pair favours neither.
    const measured: Partial<Record<Side, Slice>> = {};
    for (const side of pair % 2 === 1 ? sides : [...sides].reverse())
      measured[side] = await slice(side, seconds);
    const { base, work } = measured as Record<Side, Slice>;
    cpuRatios.push(work.cpuUsPerRequest / base.cpuUsPerRequest);
    throughputRatios.push(work.throughput / base.throughput);
    console.log(
      `pair ${pair}: CPU µs/request base ${base.cpuUsPerRequest.toFixed(0)} work ${work.cpuUsPerRequest.toFixed(0)}` +
        ` (×${cpuRatios.at(-1)!.toFixed(3)}), req/s base ${base.throughput.toFixed(0)} work ${work.throughput.toFixed(0)}`,
    );
  }
  const range = (ratios: number[]): string =>
    `median ×${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`;
  console.log(
    `${variant} ${values.scenario}, working tree against ${values.base}, ${pairs} pairs of ${seconds} s:`,
  );
  console.log(`  server CPU per request: ${range(cpuRatios)}`);
  console.log(`  throughput:             ${range(throughputRatios)}`);
} finally {
  if (child.connected) child.send({ type: 'shutdown' });
  await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  removeBuild(entries.base);
  removeBuild(entries.work);
  execFileSync('git', ['-C', root, 'worktree', 'remove', '--force', worktree], { stdio: 'ignore' });
  rmSync(worktree, { recursive: true, force: true });
}
