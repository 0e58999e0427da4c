/**
 * Machine instructions per request, counted by valgrind's callgrind: a measure that the host's
 * speed and noise barely move. Requests per second and CPU time drift ±20% on this shared
 * machine and differ up to 4× between hosts. Under callgrind, the main thread's instructions
 * outside garbage collection (the "mutator", below) agreed to 0.3% between two runs of one
 * build, so a change of 1% shows in one run, and layers can be ranked by the work they do
 * whatever the host.
 * Collection is counted apart: when a scavenge falls, and what it finds alive, varies between
 * runs (2 × between those two). Instructions are not time (cache misses and syscalls cost what
 * they cost), but on a server bound by its main thread they track it closely.
 *
 *   node --import tsx bench/harness/instructions.ts [--variants bare,floor-memory,idemkit-memory,node-idempotency]
 *     [--scenario first|replay] [--requests 4000] [--warmup 3000] [--base <git ref>]
 *
 * Each variant's server runs under callgrind (~50 × slower) with counting off while the load
 * warms it up (JIT, caches), on while it serves exactly `--requests` requests, then dumps its
 * counts per thread. The main thread runs JavaScript and bounds throughput; "all threads" adds
 * the collector's helpers and libuv's pool. With `--base`, each variant is measured on that
 * commit's build too, and the table gives work ÷ base. Needs valgrind (with its
 * callgrind_annotate). Not part of `npm run bench`: minutes per variant, and a tool for judging
 * a change or a layer, not a speed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { probeNames, type VariantName, variantNames } from '../shared/protocol.js';
import { buildRef, buildServer, removeBuild } from './build.js';
import { runLoad, uniqueKeys } from './load.js';
import { replayKeys } from './scenarios.js';
import { ServerProcess } from './server-process.js';

const { values } = parseArgs({
  options: {
    variants: { type: 'string', default: 'bare,floor-memory,idemkit-memory,node-idempotency' },
    scenario: { type: 'string', default: 'first' },
    requests: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '3000' },
    connections: { type: 'string', default: '8' },
    base: { type: 'string' },
  },
});
const knownVariants: readonly string[] = [...variantNames, ...probeNames];
const variants = values.variants.split(',') as VariantName[];
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
if (
  variants.some((name) => !knownVariants.includes(name)) ||
  !['first', 'replay'].includes(values.scenario) ||
  ![requests, warmup, connections].every((n) => Number.isInteger(n) && n > 0)
) {
  console.error(
    `usage: instructions.ts [--variants <${knownVariants.join('|')}>,…] [--scenario first|replay] [--requests N] [--warmup N] [--base <git ref>]`,
  );
  process.exit(2);
}
if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('instructions.ts needs valgrind (Debian package valgrind)');
  process.exit(2);
}

interface Count {
  /** Instructions per request on the main thread, outside garbage collection. */
  mutator: number;
  /** Instructions per request of garbage collection on the main thread. */
  gc: number;
  /** Instructions per request on all threads. */
  all: number;
}

/** Unused while a request count is given (autocannon then ignores its duration). */
const loadSeconds = 3_600;

/** Serve `--warmup` then `--requests` requests of the scenario under callgrind; count the second part. */
async function measure(entry: string, variant: VariantName): Promise<Count> {
  const dir = mkdtempSync(join(tmpdir(), 'idemkit-callgrind-'));
  const server = await ServerProcess.start({
    entry,
    variant,
    responseBytes: 0,
    callgrindOutFile: join(dir, 'callgrind.%p'),
  });
  try {
    let nextKey = uniqueKeys();
    if (values.scenario === 'replay') {
      const pool = await replayKeys(server.url, 1000, connections);
      if (pool.failed > 0) throw new Error(`${variant}: ${pool.failed} of 1000 first requests failed`);
      nextKey = pool.nextKey;
    }
    const load = (count: number) =>
      runLoad({ url: server.url, connections, seconds: loadSeconds, requests: count, nextKey });
    await load(warmup);
    await server.reset();
    callgrindControl('--instr=on', server.pid);
    const measured = await load(requests);
    callgrindControl('--dump', server.pid);
    callgrindControl('--instr=off', server.pid);
    const stats = await server.stats();
    // A replay answers with the stored status: 201, like a first execution.
    const answered = measured.statusCodes['201'] ?? 0;
    const executions = values.scenario === 'first' ? requests : 0;
    if (stats.requests !== requests || measured.errors > 0 || answered !== requests)
      throw new Error(
        `${variant}: served ${stats.requests} of ${requests} requests (statuses ${JSON.stringify(measured.statusCodes)}, ${measured.errors} errors)`,
      );
    if (stats.executions !== executions && variant !== 'bare')
      throw new Error(
        `${variant}: the handler ran ${stats.executions} times for ${executions} first executions`,
      );
    return threadTotals(dir, server.pid, requests);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function callgrindControl(command: string, pid: number): void {
  const result = spawnSync('callgrind_control', [command, String(pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`callgrind_control ${command} failed: ${result.stderr}`);
}

/** The first dump's per-thread files (`callgrind.<pid>.1-<thread>`); thread 01 is node's main thread. */
function threadTotals(dir: string, pid: number, count: number): Count {
  let main = 0;
  let all = 0;
  const prefix = `callgrind.${pid}.1-`;
  for (const name of readdirSync(dir).filter((file) => file.startsWith(prefix))) {
    const totals = /^totals: (\d+)/m.exec(readFileSync(join(dir, name), 'utf8'));
    if (!totals) throw new Error(`no totals in ${name}`);
    const instructions = Number(totals[1]);
    all += instructions;
    if (name === `${prefix}01`) main = instructions;
  }
  if (main === 0) throw new Error(`callgrind wrote no dump for the main thread of ${pid}`);
  const gc = collectionOnMainThread(join(dir, `${prefix}01`));
  return { mutator: (main - gc) / count, gc: gc / count, all: all / count };
}

/**
 * Instructions spent under `v8::internal::Heap::CollectGarbage`, through which every collection
 * the main thread runs or joins passes (scavenges on a failed allocation, too), inclusive.
 */
function collectionOnMainThread(file: string): number {
  const annotated = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (annotated.status !== 0) throw new Error(`callgrind_annotate failed: ${annotated.stderr}`);
  const line = annotated.stdout
    .split('\n')
    .find((row) => row.includes('v8::internal::Heap::CollectGarbage('));
  return line ? Number(/^\s*([\d,]+)/.exec(line)?.[1]?.replaceAll(',', '') ?? 0) : 0;
}

const builds: Array<{ side: string; entry: string; remove(): void }> = [];
try {
  const work = buildServer(undefined, '-instructions');
  builds.push({ side: 'work', entry: work, remove: () => removeBuild(work) });
  if (values.base) builds.unshift({ side: 'base', ...buildRef(values.base, '-instructions-base') });
  const rows: string[] = [];
  const counts = new Map<string, Count>();
  for (const variant of variants) {
    for (const { side, entry } of builds) {
      const count = await measure(entry, variant);
      counts.set(`${side} ${variant}`, count);
      console.log(
        `${variant}${values.base ? ` (${side})` : ''}: mutator ${fmt(count.mutator)}, collection ${fmt(count.gc)}, all threads ${fmt(count.all)}`,
      );
    }
  }
  const reference = (variant: VariantName): Count | undefined =>
    values.base ? counts.get(`base ${variant}`) : counts.get('work bare');
  for (const variant of variants) {
    for (const { side } of builds) {
      const count = counts.get(`${side} ${variant}`)!;
      const against = reference(variant);
      const ratio = (n: number, of: number | undefined) => (of ? `×${(n / of).toFixed(3)}` : '');
      rows.push(
        `| ${variant}${values.base ? ` (${side})` : ''} | ${fmt(count.mutator)} | ${ratio(count.mutator, against?.mutator)} | ${fmt(count.gc)} | ${fmt(count.all)} | ${ratio(count.all, against?.all)} |`,
      );
    }
  }
  const relative = values.base ? `÷ ${values.base}` : '× bare';
  console.log(
    `\n${values.scenario}, ${requests} requests after ${warmup} of warm-up, ${connections} connections (instructions per request):\n`,
  );
  console.log(
    `| variant | mutator (main thread outside collection) | ${relative} | collection (main thread) | all threads | ${relative} |`,
  );
  console.log('|---|--:|--:|--:|--:|--:|');
  for (const row of rows) console.log(row);
} finally {
  for (const build of builds) build.remove();
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
