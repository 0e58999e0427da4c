/**
 * Where the extra time of one server goes, compared with another: self time per function per
 * request, from two `--cpu-prof` profiles and the number of requests each served.
 *
 *   node --import tsx bench/harness/profile-diff.ts <base.cpuprofile|dir> <requests> <other.cpuprofile|dir> <requests>
 *
 * e.g. bare against idemkit-memory from `npm run bench -- --profile` (requests: the `requests`
 * counter of each run in bench/results/profile.json). Rows are sorted by the extra µs/request.
 */
import { readFileSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { mainThreadProfile } from './profile-summary.js';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Self time (µs) per function, keyed by name and location. */
function selfTimes(path: string): { byFunction: Map<string, number>; busy: number } {
  const file = statSync(path).isDirectory() ? mainThreadProfile(path) : path;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id);
    if (!frame || frame.functionName === '(idle)') return;
    const micros = profile.timeDeltas[i] ?? 0;
    const where = frame.url.startsWith('file://')
      ? relative(process.cwd(), new URL(frame.url).pathname)
      : frame.url;
    const key = `${frame.functionName || '(anonymous)'}  ${where}${where ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
    busy += micros;
  });
  return { byFunction, busy };
}

const [basePath, baseRequests, otherPath, otherRequests] = process.argv.slice(2);
if (!basePath || !baseRequests || !otherPath || !otherRequests) {
  console.error('usage: profile-diff.ts <base profile> <requests> <other profile> <requests>');
  process.exit(2);
}
const base = selfTimes(basePath);
const other = selfTimes(otherPath);
const perBase = (micros: number): number => micros / Number(baseRequests);
const perOther = (micros: number): number => micros / Number(otherRequests);
console.log(
  `busy µs/request: base ${perBase(base.busy).toFixed(1)}, other ${perOther(other.busy).toFixed(1)} (+${(perOther(other.busy) - perBase(base.busy)).toFixed(1)})`,
);
console.log('  extra    base   other  function');
const names = new Set([...base.byFunction.keys(), ...other.byFunction.keys()]);
const rows = [...names].map((name) => {
  const a = perBase(base.byFunction.get(name) ?? 0);
  const b = perOther(other.byFunction.get(name) ?? 0);
  return { name, a, b, extra: b - a };
});
for (const row of rows.sort((x, y) => y.extra - x.extra).slice(0, 40)) {
  console.log(
    `${row.extra.toFixed(2).padStart(7)} ${row.a.toFixed(2).padStart(7)} ${row.b.toFixed(2).padStart(7)}  ${row.name}`,
  );
}
