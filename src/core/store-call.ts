import { IdempotencyError } from './errors.js';

/**
 * Run one store operation with a time limit. A timeout means "outcome unknown": the write may
 * still land later, which is why callers treat it like any other failure and fence with tokens.
 */
export async function callStore<T>(operation: string, timeoutMs: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new IdempotencyError(
          'idempotency-store-timeout',
          `store.${operation} did not answer within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(), timeout]);
  } catch (error) {
    if (error instanceof IdempotencyError) throw error;
    throw new IdempotencyError(
      'idempotency-store-unavailable',
      `store.${operation} failed: ${describe(error)}`,
      {
        cause: error,
      },
    );
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
