import type { IdempotencyEvent, IdempotencyEventType } from './events.js';
import type { LocalClaims } from './local-claims.js';
import type { IdempotencyStore } from './store.js';

/** What an engine shares with the requests it handles. */
export interface EngineContext {
  store: IdempotencyStore;
  now: () => number;
  /** Keys held by this process's executions, and the wake-ups of their waiters. */
  local: LocalClaims;
  /** Tell `onEvent` about an outcome. Builds nothing when nobody listens: this is the hot path. */
  report(type: IdempotencyEventType, trace: RequestTrace, details?: EventDetails): void;
}

/** What an event says beyond who the request is. */
export type EventDetails = Pick<IdempotencyEvent, 'status' | 'stored' | 'reason' | 'error'>;

/** Who a request is, for the events it produces. */
export interface RequestTrace {
  method: string;
  path: string;
  /** Absent until the key header parsed. */
  key?: string;
  scope?: string;
  /** performance.now() when handling began. */
  startedAt: number;
}

/** The trace of a request whose key parsed: everything after that point knows both. */
export type KeyedTrace = RequestTrace & { key: string; scope: string };

/** An `EngineContext.report` that calls `onEvent`, whose failures never reach the client. */
export function reporter(onEvent: ((event: IdempotencyEvent) => void) | undefined): EngineContext['report'] {
  if (!onEvent) return () => undefined;
  return (type, trace, details) => {
    const event: IdempotencyEvent = {
      type,
      method: trace.method,
      path: trace.path,
      key: trace.key,
      scope: trace.scope,
      durationMs: performance.now() - trace.startedAt,
      ...details,
    };
    try {
      onEvent(event);
    } catch {
      // A logging hook must never change what the client gets.
    }
  };
}
