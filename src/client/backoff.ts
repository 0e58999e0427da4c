/** What {@link backoffDelay} needs to know; the fields mirror the client's options. */
export interface BackoffOptions {
  /** Ceiling of the first wait, in ms. */
  baseDelay: number;
  /** No computed wait exceeds this, in ms. */
  maxDelay: number;
  /** A number in [0, 1); `Math.random` in production, a fixed sequence in tests. */
  random: () => number;
}

/**
 * Exponential backoff with full jitter: after attempt `n` failed, wait a uniformly random time in
 * `[0, min(maxDelay, baseDelay * 2^(n-1)))`. Full jitter (rather than "exponential plus a little
 * noise") spreads a crowd of clients that failed together, so they do not come back together.
 *
 * @example
 * ```ts
 * backoffDelay(3, { baseDelay: 100, maxDelay: 1000, random: () => 0.5 }); // 0.5 * 400 = 200
 * ```
 */
export function backoffDelay(failedAttempt: number, { baseDelay, maxDelay, random }: BackoffOptions): number {
  const ceiling = Math.min(maxDelay, baseDelay * 2 ** (failedAttempt - 1));
  return random() * ceiling;
}

const deltaSeconds = /^\d+$/;

/**
 * Reads a `Retry-After` value (RFC 9110 §10.2.3) as a wait in ms from `now`: delta-seconds
 * (`"120"`) or an HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A date in the past means "now" (0).
 * Returns `undefined` when the header is absent or unreadable, so the caller keeps its own backoff.
 *
 * @example
 * ```ts
 * retryAfterDelay('2', Date.now()); // 2000
 * ```
 */
export function retryAfterDelay(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (deltaSeconds.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  // Date.parse accepts many shapes; only trust values that look like a date, not a bare number.
  if (Number.isNaN(at) || !/[a-z]/i.test(trimmed)) return undefined;
  return Math.max(0, at - now);
}
