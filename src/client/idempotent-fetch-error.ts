import type { GiveUpReason } from './fetch-outcome.js';

const explanations: Record<GiveUpReason, string> = {
  'attempts-exhausted': 'every attempt failed',
  deadline: 'the deadline passed',
  'body-not-replayable':
    'the body is a stream larger than maxBufferedBody, so it was sent once and not retried',
  'not-retry-safe':
    'the request has no Idempotency-Key and its method is not idempotent, so it was not retried',
  'retry-after-too-long': 'the server asked to wait longer than maxRetryAfter',
};

/**
 * Thrown when a call ends without any response: every attempt failed on the network or timed out,
 * or the one attempt that was allowed did. `cause` is the last attempt's error (fetch's
 * `TypeError`, or a `TimeoutError` DOMException); `code` says why no further attempt was made.
 *
 * Not thrown for HTTP answers: a retryable status that runs out of attempts is returned as the
 * Response. Not thrown when the caller aborts: that rejects with the signal's reason, as fetch does.
 */
export class IdempotentFetchError extends Error {
  override readonly name = 'IdempotentFetchError';
  readonly code: GiveUpReason;
  /** Requests sent (0 when the deadline passed while the body was still being read). */
  readonly attempts: number;
  /** Retry later with this key, and the server will replay the operation if it did happen. */
  readonly idempotencyKey: string | undefined;

  constructor(
    code: GiveUpReason,
    details: { attempts: number; idempotencyKey: string | undefined; cause: unknown },
  ) {
    const tries = details.attempts === 1 ? '1 attempt' : `${details.attempts} attempts`;
    super(`idempotent fetch failed after ${tries}: ${explanations[code]}`, { cause: details.cause });
    this.code = code;
    this.attempts = details.attempts;
    this.idempotencyKey = details.idempotencyKey;
  }
}
