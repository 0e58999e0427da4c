import type { Machine } from './machine.js';
import type { MemoryStoreBound } from './memory-store-bound.js';
import type { ProfileSummary } from './profile-summary.js';
import type { RunRecord } from './scenarios.js';
import type { Settings } from './settings.js';

/** Everything one `npm run bench` measured, as written to bench/results/*.json. */
export interface BenchDocument {
  date: string;
  command: string;
  wallTimeSeconds: number;
  machine: Machine;
  settings: Settings;
  runs: RunRecord[];
  /** Self-time summaries of the servers' CPU profiles (runs with --profile). */
  profiles?: ProfileSummary[];
  /** The memory store's claim cost in steady state (runs that include idemkit-memory). */
  memoryStoreBound?: MemoryStoreBound;
}
