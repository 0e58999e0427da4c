import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The parts of a V8 `.cpuprofile` (as `node --cpu-prof` writes it) that self time needs. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }>;
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  /** File (relative to the repo, or node:internal) and 1-based line. */
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  selfShare: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  /** Self time by where the code lives: idemkit, express, the peers, node internals, GC … */
  byArea: Array<{ area: string; selfMs: number; selfShare: number }>;
  top: HotFunction[];
}

/** The main thread's profile in a `--cpu-prof-dir`: the largest file (other threads barely run). */
export function mainThreadProfile(dir: string): string {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(dir, name));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  return files.reduce((largest, file) => (statSync(file).size > statSync(largest).size ? file : largest));
}

/** Self time per function (the time a function ran its own code, not its callees'). */
export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map<string, HotFunction>();
  const byArea = new Map<string, number>();
  let busy = 0;
  for (const [id, micros] of selfByNode) {
    const frame = byNode.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busy += micros;
    const location = frame.url ? `${shorten(frame.url)}:${frame.lineNumber + 1}` : '';
    const name = frame.functionName || '(anonymous)';
    const key = `${name} ${location}`;
    const entry = byFunction.get(key) ?? { name, location, selfMs: 0, selfShare: 0 };
    entry.selfMs += micros / 1000;
    byFunction.set(key, entry);
    const area = areaOf(frame.url, name);
    byArea.set(area, (byArea.get(area) ?? 0) + micros / 1000);
  }
  const busyMs = busy / 1000;
  const share = (ms: number): number => (busyMs > 0 ? ms / busyMs : 0);
  return {
    file,
    busyMs,
    byArea: [...byArea]
      .map(([area, selfMs]) => ({ area, selfMs, selfShare: share(selfMs) }))
      .sort((a, b) => b.selfMs - a.selfMs),
    top: [...byFunction.values()]
      .map((entry) => ({ ...entry, selfShare: share(entry.selfMs) }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top),
  };
}

function shorten(url: string): string {
  if (!url.startsWith('file://')) return url;
  return relative(process.cwd(), new URL(url).pathname);
}

function areaOf(url: string, name: string): string {
  if (name.startsWith('(')) return name; // (garbage collector), (program)
  if (url.includes('/src/')) return 'idemkit (src/)';
  if (url.includes('/bench/')) return 'benchmark app (bench/)';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1]!;
  if (url.startsWith('node:')) return 'node internals';
  return url === '' ? 'native / V8 builtins' : 'other';
}

/** `node --import tsx bench/harness/profile-summary.ts <file.cpuprofile>…`: print the summaries. */
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const path of process.argv.slice(2)) {
    const file = statSync(path).isDirectory() ? mainThreadProfile(path) : path;
    const summary = summarizeProfile(file);
    console.log(`\n${file}: ${summary.busyMs.toFixed(0)} ms busy`);
    for (const area of summary.byArea.slice(0, 10)) {
      console.log(`  ${(area.selfShare * 100).toFixed(1).padStart(5)}%  ${area.area}`);
    }
    console.log('  --- top self time ---');
    for (const hot of summary.top) {
      console.log(
        `  ${(hot.selfShare * 100).toFixed(1).padStart(5)}%  ${hot.selfMs.toFixed(0).padStart(6)} ms  ${hot.name}  ${hot.location}`,
      );
    }
  }
}
