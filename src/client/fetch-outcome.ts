/**
 * What a call went through, kept beside the Response it returned instead of in added headers
 * (headers would be indistinguishable from the server's own).
 */

/** Why the client stopped although the last answer was worth retrying. */
export type GiveUpReason =
  /** `maxAttempts` attempts were made. */
  | 'attempts-exhausted'
  /** The next attempt could not start (or finish) before `deadline`. */
  | 'deadline'
  /** The body was a one-shot stream larger than `maxBufferedBody`; it could only be sent once. */
  | 'body-not-replayable'
  /** POST/PATCH without an `Idempotency-Key`: repeating it could do the work twice. */
  | 'not-retry-safe'
  /** The server's `Retry-After` asked for a longer wait than `maxRetryAfter`. */
  | 'retry-after-too-long';

/** The record behind {@link attemptsOf}, {@link idempotencyKeyOf} and {@link fetchOutcomeOf}. */
export interface FetchOutcome {
  /** How many requests were sent for this call, the last one included (1 = no retry). */
  attempts: number;
  /** The `Idempotency-Key` every attempt carried; `undefined` when the request had none. */
  idempotencyKey: string | undefined;
  /** Set only when the returned response was itself retryable (e.g. a 503) and the client stopped. */
  gaveUp?: GiveUpReason;
}

const outcomes = new WeakMap<Response, FetchOutcome>();

/** Internal: called by the client on the Response it is about to return. */
export function rememberOutcome(response: Response, outcome: FetchOutcome): void {
  outcomes.set(response, outcome);
}

/**
 * How many attempts produced this response, or `undefined` for a Response that did not come from
 * an idempotent fetch.
 *
 * @example
 * ```ts
 * const response = await idempotentFetch(url, { method: 'POST', body });
 * log.info({ attempts: attemptsOf(response), key: idempotencyKeyOf(response) });
 * ```
 */
export function attemptsOf(response: Response): number | undefined {
  return outcomes.get(response)?.attempts;
}

/**
 * The `Idempotency-Key` sent with this response's request (generated or the caller's own), or
 * `undefined` when none was sent. Log it: it is how the server's records find this operation.
 *
 * @example
 * ```ts
 * const response = await idempotentFetch(url, { method: 'POST', body });
 * console.log(idempotencyKeyOf(response)); // '9b2d…'
 * ```
 */
export function idempotencyKeyOf(response: Response): string | undefined {
  return outcomes.get(response)?.idempotencyKey;
}

/**
 * The whole record: attempts, key, and — when the response is a retryable status the client
 * stopped retrying — why it stopped.
 *
 * @example
 * ```ts
 * const response = await idempotentFetch(url, { method: 'POST', body: stream });
 * if (fetchOutcomeOf(response)?.gaveUp === 'body-not-replayable') console.warn('sent once, not retried');
 * ```
 */
export function fetchOutcomeOf(response: Response): FetchOutcome | undefined {
  return outcomes.get(response);
}
