/**
 * The store contract. Stores do atomic reads and writes and nothing else: every policy decision
 * (fingerprints, expiry arithmetic, what to store, what to answer) belongs to the engine.
 *
 * All times are absolute Unix milliseconds, and every time-dependent call receives the engine's
 * `now`, so a store never consults its own clock (tests move the engine's clock, and several
 * processes agree on expiry because they share one notion of time per call).
 *
 * A store throws only for infrastructure failures (connection lost, timeout, disk full). Losing a
 * race is never an exception: it is a return value.
 */

import type { Awaitable } from './awaitable.js';

// A store may answer synchronously (an in-process map, better-sqlite3): the engine then skips the
// timeout and promise it wraps around asynchronous calls.
export type { Awaitable };

/** A response as captured from a handler and replayed to retries. */
export interface StoredResponse {
  status: number;
  /** Header pairs in send order; names are lower-case. Repeated names appear repeatedly. */
  headers: Array<[string, string]>;
  body: Uint8Array;
}

export type RecordState = 'in-flight' | 'completed';

/** One idempotency record, as a store keeps it. */
export interface IdempotencyRecord {
  /** Storage key: a hash of (scope, method, path, idempotency key), never the raw key. */
  key: string;
  /** SHA-256 of the request, hex. A retry must match it to be replayed. */
  fingerprint: string;
  state: RecordState;
  /** Fencing token of the current owner; every acquisition gets a new one. */
  token: string;
  /** While in flight: the owner is presumed alive until then (it renews while its handler runs). */
  leaseUntil: number;
  /** When the record stops existing, measured from the first claim. */
  expiresAt: number;
  /** When the first claim was made. */
  createdAt: number;
  /** Present once completed. */
  response?: StoredResponse;
}

/** What the engine asks a store to insert when it claims a key. */
export type NewRecord = Omit<IdempotencyRecord, 'state' | 'response'>;

export type AcquireResult =
  /** The caller owns the key now; `record` is what the store holds (its `expiresAt` may be older on takeover). */
  | { acquired: true; record: IdempotencyRecord }
  /** Somebody else holds the key; `record` is their record, unchanged. */
  | { acquired: false; record: IdempotencyRecord };

/**
 * Implement this to keep idempotency records somewhere. Prove an implementation with
 * `runStoreContract` from `idemkit/testing`.
 *
 * The lifecycle of one record, as the store sees it:
 *
 * ```text
 *   acquire ──► in-flight ──complete(token)──► completed ──(now ≥ expiresAt)──► gone
 *                 │   ▲                                                          ▲
 *     renew(token)└───┘ leaseUntil moves on                                      │
 *                 │                                                              │
 *                 ├──release(token)──────────────────────────────────────────────┤
 *                 │                                                              │
 *                 └──(now ≥ leaseUntil) acquire by a retry with the same ────────┘ (takeover:
 *                    fingerprint: new token, same expiresAt; the old owner's         the old token
 *                    complete/release/renew now return false)                        is fenced off)
 * ```
 */
export interface IdempotencyStore {
  /**
   * Atomically claim `record.key`. The claim succeeds, and `record` is written, when:
   * - no record exists for the key, or the existing one has expired (`expiresAt <= now`); or
   * - the existing record is in flight, its lease has lapsed (`leaseUntil <= now`) and its
   *   fingerprint equals `record.fingerprint` (a takeover: the token and lease are replaced, the
   *   original `expiresAt` and `createdAt` are kept, so a takeover never extends the record's life).
   *
   * Otherwise it fails and returns the existing record unchanged.
   *
   * Concurrency promise: of N callers racing for one key, exactly one wins, across processes.
   */
  acquire(record: NewRecord, now: number): Awaitable<AcquireResult>;

  /**
   * Store the response and mark the record completed, only if it is in flight and `token` is
   * still its owner's. Sets `expiresAt` to the given value. Returns false when ownership was lost
   * (taken over, released, expired and reclaimed): the caller must not assume anything was written.
   */
  complete(key: string, token: string, response: StoredResponse, expiresAt: number): Awaitable<boolean>;

  /** Delete the record, only if it is in flight and held by `token`. Returns false otherwise. */
  release(key: string, token: string): Awaitable<boolean>;

  /** Extend the lease of an in-flight record held by `token`. Returns false when ownership was lost. */
  renew(key: string, token: string, leaseUntil: number): Awaitable<boolean>;

  /** The record for `key`, or null when there is none or it has expired (`expiresAt <= now`). */
  get(key: string, now: number): Awaitable<IdempotencyRecord | null>;

  /** Physically delete expired records (in batches); returns how many were deleted. */
  purgeExpired(now: number): Awaitable<number>;

  /**
   * Optional: resolve soon after the record for `key` changes (completed, released, taken over),
   * so a waiting duplicate need not poll. A hint only: the engine still polls with capped backoff,
   * so a missed notification costs latency, never correctness. Must settle when `signal` aborts.
   */
  watch?(key: string, signal: AbortSignal): Promise<void>;

  /** Optional: free connections or timers the store itself created (never the client it was given). */
  close?(): Promise<void>;
}
