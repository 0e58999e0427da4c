import { after } from './deadlines.js';
import { IdempotencyError } from './errors.js';

/**
 * Run one store operation with a time limit. A timeout means "outcome unknown": the write may
 * still land later, which is why callers treat it like any other failure and fence with tokens.
 */
export function callStore<T>(operation: string, timeoutMs: number, run: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = after(timeoutMs, () => {
      reject(
        new IdempotencyError(
          'idempotency-store-timeout',
          `store.${operation} did not answer within ${timeoutMs} ms`,
        ),
      );
    });
    const fail = (error: unknown): void => {
      cancel();
      reject(unavailable(operation, error));
    };
    try {
      run().then((value) => {
        cancel();
        resolve(value);
      }, fail);
    } catch (error) {
      fail(error);
    }
  });
}

function unavailable(operation: string, error: unknown): IdempotencyError {
  if (error instanceof IdempotencyError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new IdempotencyError('idempotency-store-unavailable', `store.${operation} failed: ${message}`, {
    cause: error,
  });
}
