/**
 * Is the working tree faster than another commit, or than another layer? Server CPU per request
 * and throughput of one scenario, measured in paired, alternating slices of two sides served by
 * one process on two ports (ab-server.mjs): the working tree's build of `--variant`, and either
 * the build of `--base` (a git ref, checked out into a temporary worktree) or, with `--against`,
 * another variant of the working tree (a peer or a floor). On this machine a run's cost drifts by
 * ±20% over minutes, and differs between processes; slices a few seconds apart in one process
 * share both, so the median of per-pair ratios over enough pairs separates changes that separate
 * runs cannot. An A/A run (a build against itself) shows how far apart single pairs fall on the day.
 *
 *   node --import tsx bench/harness/ab.ts --base HEAD~1 [--variant idemkit-memory]
 *     [--scenario first|replay] [--pairs 10] [--seconds 3]
 *   node --import tsx bench/harness/ab.ts --against node-idempotency [--variant idemkit-memory] …
 *
 * Not part of `npm run bench`: a tool for judging one change before it lands.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { probeNames, type VariantName, variantNames } from '../shared/protocol.js';
import { buildRef, buildServer, removeBuild } from './build.js';
import { runLoad, uniqueKeys } from './load.js';
import { processJiffies, waitForQuiet } from './quiet.js';
import { replayKeys } from './scenarios.js';
import { median } from './statistics.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    against: { type: 'string' },
    variant: { type: 'string', default: 'idemkit-memory' },
    scenario: { type: 'string', default: 'first' },
    pairs: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
  },
});
const abVariants: readonly VariantName[] = variantNames.filter(
  (name) => name === 'bare' || name.startsWith('idemkit-'),
);
const variant = values.variant as VariantName;
const against = values.against as VariantName | undefined;
const knownVariants: readonly string[] = [...variantNames, ...probeNames];
if (
  Boolean(values.base) === Boolean(against) ||
  !abVariants.includes(variant) ||
  (against !== undefined && !knownVariants.includes(against)) ||
  !['first', 'replay'].includes(values.scenario)
) {
  console.error(
    `usage: ab.ts (--base <git ref> | --against <${knownVariants.join('|')}>) [--variant ${abVariants.join('|')}] [--scenario first|replay] [--pairs N] [--seconds S]`,
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

// Against another commit: its build, from a worktree of its own. Against another variant: none.
let baseRef: ReturnType<typeof buildRef> | undefined;
let workEntry: string | undefined;
let child: ChildProcess | undefined;

/** The server's next message. */
function nextMessage<Reply>(server: ChildProcess): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`ab-server exited (code ${code})`));
    server.once('exit', onExit);
    server.once('message', (reply) => {
      server.off('exit', onExit);
      resolve(reply as Reply);
    });
  });
}

/** Send a message to the server and wait for its reply. */
function ask<Reply>(server: ChildProcess, message: object): Promise<Reply> {
  const reply = nextMessage<Reply>(server);
  server.send(message);
  return reply;
}

try {
  workEntry = buildServer(root, '-work');
  if (values.base) baseRef = buildRef(values.base, '-base');
  const buildDir = (entry: string): string => join(entry, '..', '..', '..');
  const [baseBuild, workBuild] = [buildDir(baseRef?.entry ?? workEntry), buildDir(workEntry)];
  const server = fork(fileURLToPath(new URL('ab-server.mjs', import.meta.url)), [
    against ?? variant,
    baseBuild,
    variant,
    workBuild,
  ]);
  child = server;
  const { ports } = await nextMessage<{ ports: Record<Side, number> }>(server);
  const url = (side: Side): string => `http://127.0.0.1:${ports[side]}/v1/charges`;
  const nextKeys = { base: uniqueKeys(), work: uniqueKeys() };
  if (values.scenario === 'replay') {
    for (const side of sides) {
      nextKeys[side] = (await replayKeys(url(side), 1000, connections)).nextKey;
    }
  }
  const slice = async (side: Side, measureSeconds: number): Promise<Slice> => {
    await ask(server, { type: 'reset', side });
    const before = processJiffies(server.pid!);
    const load = await runLoad({
      url: url(side),
      connections,
      seconds: measureSeconds,
      nextKey: nextKeys[side],
    });
    const cpuMs = (processJiffies(server.pid!) - before) * 10;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { requests } = await ask<{ requests: number }>(server, { type: 'requests', side });
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
    `${variant} ${values.scenario}, against ${against ?? `${variant} of ${values.base}`}, ${pairs} pairs of ${seconds} s (ratios: ${variant} ÷ ${against ?? values.base}):`,
  );
  console.log(`  server CPU per request: ${range(cpuRatios)}`);
  console.log(`  throughput:             ${range(throughputRatios)}`);
} finally {
  if (child?.connected) {
    const server = child;
    server.send({ type: 'shutdown' });
    await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(null)));
  }
  if (workEntry) removeBuild(workEntry);
  baseRef?.remove();
}
