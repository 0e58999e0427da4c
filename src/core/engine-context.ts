import type { ChangeSignals } from './change-signals.js';
import type { IdempotencyEvent } from './events.js';
import type { IdempotencyStore } from './store.js';

/** What an engine shares with the requests it handles. */
export interface EngineContext {
  store: IdempotencyStore;
  now: () => number;
  signals: ChangeSignals;
  emit(event: IdempotencyEvent): void;
}

/** Who a request is, for the events it produces. */
export interface RequestTrace {
  method: string;
  path: string;
  key: string;
  scope: string;
  /** performance.now() when handling began. */
  startedAt: number;
}

/** The fields every event about this request carries. */
export function traceFields(trace: RequestTrace): Omit<IdempotencyEvent, 'type'> {
  return {
    method: trace.method,
    path: trace.path,
    key: trace.key,
    scope: trace.scope,
    durationMs: performance.now() - trace.startedAt,
  };
}
