/**
 * What the harness and a server process say to each other over the IPC channel of
 * `child_process.fork`. Kept off HTTP so that stats and resets never show up as load.
 */

export const variantNames = [
  'bare',
  'idemkit-memory',
  'idemkit-sqlite',
  'idemkit-postgres',
  'idemkit-redis',
  'express-idempotency',
  'node-idempotency',
] as const;

/**
 * Servers that are not idempotency layers but bound what one can reach (run only when named with
 * `--variants`; never part of a complete run): see bench/server/floor-*-variant.ts.
 */
export const probeNames = ['floor-memory', 'floor-postgres'] as const;

export type VariantName = (typeof variantNames)[number] | (typeof probeNames)[number];

/** Store methods counted on idemkit's stores (calls the engine makes, per method). */
export type StoreCallCounts = Record<'acquire' | 'complete' | 'release' | 'renew' | 'get' | 'watch', number>;

export interface ServerStats {
  /** Requests the HTTP server received since the last reset. */
  requests: number;
  /** Handler executions since the last reset. */
  executions: number;
  /** Keys whose handler ran more than once, over the whole life of the process (not reset). */
  keysExecutedMoreThanOnce: number;
  /** Distinct keys the handler ran for, over the whole life of the process. */
  keysExecuted: number;
  /** idemkit variants only: store method calls since the last reset. */
  storeCalls: StoreCallCounts | null;
  /** idemkit on PostgreSQL or Redis: queries / commands sent to the server since the last reset. */
  driverRoundTrips: number | null;
  /** Event-loop delay since the last reset (`monitorEventLoopDelay`, 1 ms resolution), ms. */
  eventLoopDelay: { p50: number; p99: number; max: number };
}

export type HarnessMessage = { type: 'stats' } | { type: 'reset' } | { type: 'clock' } | { type: 'shutdown' };

export type ServerMessage =
  | { type: 'ready'; port: number }
  | { type: 'stats'; stats: ServerStats }
  /** The server's `performance.timeOrigin + performance.now()`, to align its clock with the harness's. */
  | { type: 'clock'; now: number }
  | { type: 'reset-done' }
  | { type: 'failed'; message: string };

/** Request headers the harness uses to steer the handler; none of them is part of a fingerprint. */
export const benchHeaders = {
  /** The handler sleeps this many ms before answering (the concurrent-duplicates scenario). */
  delay: 'x-bench-delay-ms',
  /** Echoed in the handler's body, so a client can tell the original's response from a replay. */
  requestId: 'x-bench-request-id',
} as const;

/** What the handler answers (201, JSON). */
export interface ChargeBody {
  id: string;
  object: 'charge';
  amount: number;
  currency: string;
  /** The request that ran the handler (its `x-bench-request-id`). */
  requestId: string | null;
  /** When the handler answered: performance.timeOrigin + performance.now(), ms since the epoch. */
  completedAt: number;
  /** Filler that brings the body to the size the scenario asks for. */
  padding?: string;
}
