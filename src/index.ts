export { canonicalize, canonicalizeJsonText } from './core/canonical-json.js';
export type { Decision, Idempotency, IdempotencyRoute } from './core/engine.js';
export { createIdempotency } from './core/engine.js';
export type { IdempotencyErrorCode } from './core/errors.js';
export { IdempotencyError } from './core/errors.js';
export type { IdempotencyEvent, IdempotencyEventType } from './core/events.js';
export type { AbandonReason } from './core/execution.js';
export { Execution } from './core/execution.js';
export { fingerprintRequest, storageKeyOf } from './core/fingerprint.js';
export type { KeyParseResult } from './core/key.js';
export { maxKeyLength, parseKeyHeader } from './core/key.js';
export type { IdempotencyOptions, ResolvedRouteOptions, RouteOptions } from './core/options.js';
export { defaultStoreResponse } from './core/options.js';
export type { ProblemCode } from './core/problem.js';
export { problemResponse, problemTypeBase } from './core/problem.js';
export { replayableHeaders } from './core/replay-headers.js';
export type { CapturedResponse, IdempotencyRequest } from './core/request.js';
export type {
  AcquireResult,
  Awaitable,
  IdempotencyRecord,
  IdempotencyStore,
  NewRecord,
  RecordState,
  StoredResponse,
} from './core/store.js';
