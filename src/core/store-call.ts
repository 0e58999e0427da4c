import { type Awaitable, isPromiseLike } from './awaitable.js';
import { after } from './deadlines.js';
import { IdempotencyError } from './errors.js';

/**
 * Run one store operation with a time limit. A timeout means "outcome unknown": the write may
 * still land later, which is why callers treat it like any other failure and fence with tokens.
 * `onLate` receives the answer that timed out, for a caller that must undo it if it lands after all.
 * A synchronous answer is returned as it is (no timer, no promise): a store that answers at once
 * cannot be late, and this is the hot path of every request on the memory and SQLite stores.
 * Failures, synchronous or not, come back as a rejected promise of an `IdempotencyError`.
 */
export function callStore<T>(
  operation: string,
  timeoutMs: number,
  run: () => Awaitable<T>,
  onLate?: (late: Promise<T>) => void,
): Awaitable<T> {
  let answer: Awaitable<T>;
  try {
    answer = run();
  } catch (error) {
    return Promise.reject(unavailable(operation, error));
  }
  if (!isPromiseLike(answer)) return answer;
  const pending = Promise.resolve(answer);
  return new Promise<T>((resolve, reject) => {
    const deadline = after(timeoutMs, () => {
      onLate?.(pending);
      reject(
        new IdempotencyError(
          'idempotency-store-timeout',
          `store.${operation} did not answer within ${timeoutMs} ms`,
        ),
      );
    });
    pending.then(
      (value) => {
        deadline.cancel();
        resolve(value);
      },
      (error: unknown) => {
        deadline.cancel();
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
