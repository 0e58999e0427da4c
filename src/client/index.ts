export type { FetchFunction } from './attempt.js';
export type { IdempotentFetch, IdempotentRequestInit } from './create-idempotent-fetch.js';
export { createIdempotentFetch } from './create-idempotent-fetch.js';
export type { FetchOutcome, GiveUpReason } from './fetch-outcome.js';
export { attemptsOf, fetchOutcomeOf, idempotencyKeyOf } from './fetch-outcome.js';
export { IdempotentFetchError } from './idempotent-fetch-error.js';
export type { IdempotentFetchOptions, RetryEvent } from './idempotent-fetch-options.js';
export type { RetryReason } from './retry-policy.js';
export type { Sleep } from './sleep.js';
