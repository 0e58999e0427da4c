/**
 * What happened to one request, for logs and metrics:
 * - `executed`: the handler ran (`stored` says whether its response was kept for replay);
 * - `replayed`: a stored response was replayed at once;
 * - `waited`: a duplicate waited for the in-flight original, then got its response;
 * - `conflict`: a duplicate gave up waiting (409);
 * - `mismatch`: the key was reused with a different request (422);
 * - `invalid-key`: the header was malformed, or missing on a route that requires it (400);
 * - `lease-lost`: the handler's record was taken over (it outlived its lease without renewing);
 * - `not-stored`: the handler's response was not kept (`reason`: status, too-large, error, aborted);
 * - `store-error`: the store failed or timed out (`error` says how).
 */
export type IdempotencyEventType =
  | 'executed'
  | 'replayed'
  | 'waited'
  | 'conflict'
  | 'mismatch'
  | 'invalid-key'
  | 'lease-lost'
  | 'not-stored'
  | 'store-error';

export interface IdempotencyEvent {
  type: IdempotencyEventType;
  method: string;
  path: string;
  /** The key as the client sent it, when it was valid. */
  key?: string;
  scope?: string;
  /** The status answered (or, for `executed`/`not-stored`, the handler's status, when there was one). */
  status?: number;
  /** Milliseconds from the start of the request's idempotency handling to this outcome. */
  durationMs: number;
  /** For `executed`: whether the response was stored for replay. */
  stored?: boolean;
  /** For `not-stored`: why. For `store-error`: the store operation that failed. */
  reason?: string;
  /** For `store-error` (an IdempotencyError whose `cause` is the driver's error) and thrown handlers. */
  error?: unknown;
}
