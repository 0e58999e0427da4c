import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The machine is shared (test suites of other work may run beside the benchmark), so before each
 * measurement the harness waits for the CPUs to be quiet, and it records how much CPU other
 * processes took during the measurement. Linux only (/proc); elsewhere both are no-ops.
 */

interface CpuSample {
  /** Jiffies spent busy, all CPUs. */
  busy: number;
  total: number;
}

function systemSample(): CpuSample | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((sum, value) => sum + value, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** User + system jiffies (1/100 s on Linux) of one process, its threads included. */
export function processJiffies(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Busy share of all CPUs (0–1) over `ms`. */
async function busyShare(ms: number): Promise<number | undefined> {
  const before = systemSample();
  await sleep(ms);
  const after = systemSample();
  if (!before || !after || after.total === before.total) return undefined;
  return (after.busy - before.busy) / (after.total - before.total);
}

/**
 * Wait until the CPUs are at most `maxBusy` busy over one second (while our own server idles),
 * for at most `timeoutMs`. Returns the last busy share seen.
 */
export async function waitForQuiet(maxBusy = 0.1, timeoutMs = 120_000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  let share = await busyShare(1000);
  while (share !== undefined && share > maxBusy && Date.now() < deadline) share = await busyShare(1000);
  return share;
}

/** Processes of the database servers (PostgreSQL backends, redis-server), which serve the variant under test. */
export function databasePids(): number[] {
  try {
    return readdirSync('/proc').flatMap((entry) => {
      if (!/^\d+$/.test(entry)) return [];
      try {
        const name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
        return name === 'postgres' || name === 'redis-server' ? [Number(entry)] : [];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** Measures the CPU that processes other than `ours` used between `start()` and `stop()`. */
export class ForeignCpu {
  readonly #pids: () => number[];
  #ours: number[] = [];
  #system: CpuSample | undefined;
  #oursBefore = 0;

  /** `pids()` is asked at each start: database servers fork a process per connection. */
  constructor(pids: () => number[]) {
    this.#pids = pids;
  }

  start(): void {
    this.#ours = this.#pids();
    this.#system = systemSample();
    this.#oursBefore = this.#oursJiffies();
  }

  /** CPUs' worth of time other processes used (e.g. 0.3 = 30% of one CPU), or undefined off Linux. */
  stop(): number | undefined {
    const after = systemSample();
    if (!this.#system || !after || after.total === this.#system.total) return undefined;
    const elapsedPerCpu = (after.total - this.#system.total) / cpuCount();
    const foreign = after.busy - this.#system.busy - (this.#oursJiffies() - this.#oursBefore);
    return Math.max(0, foreign / elapsedPerCpu);
  }

  #oursJiffies(): number {
    return this.#ours.reduce((sum, pid) => sum + processJiffies(pid), 0);
  }
}

function cpuCount(): number {
  try {
    return readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((line) => /^cpu\d+ /.test(line)).length;
  } catch {
    return 1;
  }
}
