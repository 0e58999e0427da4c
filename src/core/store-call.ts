import { after } from './deadlines.js';
import { IdempotencyError } from './errors.js';
import type { Awaitable } from './store.js';

/**
 * Run one store operation with a time limit. A timeout means "outcome unknown": the write may
 * still land later, which is why callers treat it like any other failure and fence with tokens.
 * A synchronous answer is returned as it is (no timer, no promise): a store that answers at once
 * cannot be late, and this is the hot path of every request on the memory and SQLite stores.
 * Failures, synchronous or not, come back as a rejected promise of an `IdempotencyError`.
 */
export function callStore<T>(operation: string, timeoutMs: number, run: () => Awaitable<T>): Awaitable<T> {
  let answer: Awaitable<T>;
  try {
    answer = run();
  } catch (error) {
    return Promise.reject(unavailable(operation, error));
  }
  return isThenable(answer) ? withTimeout(operation, timeoutMs, Promise.resolve(answer)) : answer;
}

/** Any promise-like answer, not only native promises (some drivers bring their own). */
export function isThenable<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** `pending`, or a timeout error if it takes longer than `timeoutMs`. */
export function withTimeout<T>(operation: string, timeoutMs: number, pending: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = after(timeoutMs, () => {
      reject(
        new IdempotencyError(
          'idempotency-store-timeout',
          `store.${operation} did not answer within ${timeoutMs} ms`,
        ),
      );
    });
    pending.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        cancel();
        reject(unavailable(operation, error));
      },
    );
  });
}

function unavailable(operation: string, error: unknown): IdempotencyError {
  if (error instanceof IdempotencyError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new IdempotencyError('idempotency-store-unavailable', `store.${operation} failed: ${message}`, {
    cause: error,
  });
}
