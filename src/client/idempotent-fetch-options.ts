import type { FetchFunction } from './attempt.js';
import type { RetryReason } from './retry-policy.js';
import { type Sleep, sleep } from './sleep.js';

/** Told before each wait between attempts; useful for logs and metrics. */
export interface RetryEvent {
  /** The attempt that just failed: 1 for the first request. */
  attempt: number;
  reason: RetryReason;
  /** The status that is being retried, when the failure was an HTTP answer. */
  status?: number;
  /** The error that is being retried, when the failure was a network error or a timeout. */
  error?: unknown;
  /** ms the client waits before the next attempt (backoff, or `Retry-After` when that is longer). */
  delay: number;
  /** The `Idempotency-Key` every attempt of this call carries; `undefined` for a keyless GET/PUT/… */
  key: string | undefined;
}

/** Options of {@link createIdempotentFetch}. Every field is optional. */
export interface IdempotentFetchOptions {
  /** The fetch that sends each attempt. Default: `globalThis.fetch`, looked up per call. */
  fetch?: FetchFunction;
  /** Requests per call, the first included. Default 5. `1` turns retrying off. */
  maxAttempts?: number;
  /** ms: the first wait is random in [0, baseDelay), and the ceiling doubles per attempt. Default 200. */
  baseDelay?: number;
  /** ms: the ceiling of a computed wait. `Retry-After` may ask for more. Default 10 000. */
  maxDelay?: number;
  /**
   * ms: a `Retry-After` asking for a longer wait ends the call with that response instead of
   * sleeping (the server is down for a while; the caller should know now). Default 60 000.
   */
  maxRetryAfter?: number;
  /** ms each attempt may take until its response headers arrive. Default: no limit (fetch's own). */
  attemptTimeout?: number;
  /**
   * ms for the whole call: attempts and waits. An attempt in flight is abandoned when it passes,
   * and no wait is started that would end after it. Default: no limit.
   */
  deadline?: number;
  /** Methods that get a generated `Idempotency-Key` (and so are retried). Default `['POST', 'PATCH']`. */
  methods?: readonly string[];
  /**
   * Bytes of a one-shot body (ReadableStream, async iterable, the body of a `Request` input) the
   * client holds in memory to send it again. A larger body is sent once and never retried.
   * Default 1 MiB. In-memory bodies (string, bytes, Blob, FormData, URLSearchParams) have no limit.
   */
  maxBufferedBody?: number;
  /** Called before each wait between attempts. An exception it throws ends the call with that exception. */
  onRetry?: (event: RetryEvent) => void;
  /** [0, 1) source for the jitter. Default `Math.random`. */
  random?: () => number;
  /** The clock deadlines and `Retry-After` dates are measured with (Unix ms). Default `Date.now`. */
  now?: () => number;
  /**
   * Waits `ms`, rejecting with `signal.reason` if `signal` aborts first. Used for the waits between
   * attempts and for the attempt and deadline timers, so a fake clock controls all of them.
   * Default: `setTimeout`.
   */
  sleep?: Sleep;
}

export type ResolvedOptions = Required<Omit<IdempotentFetchOptions, 'fetch' | 'onRetry' | 'methods'>> & {
  fetch: FetchFunction | undefined;
  onRetry: ((event: RetryEvent) => void) | undefined;
  methods: ReadonlySet<string>;
};

/** Fills in defaults and rejects values that cannot mean anything. */
export function resolveOptions(options: IdempotentFetchOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    fetch: options.fetch,
    maxAttempts: options.maxAttempts ?? 5,
    baseDelay: options.baseDelay ?? 200,
    maxDelay: options.maxDelay ?? 10_000,
    maxRetryAfter: options.maxRetryAfter ?? 60_000,
    attemptTimeout: options.attemptTimeout ?? Number.POSITIVE_INFINITY,
    deadline: options.deadline ?? Number.POSITIVE_INFINITY,
    methods: new Set((options.methods ?? ['POST', 'PATCH']).map((method) => method.toUpperCase())),
    maxBufferedBody: options.maxBufferedBody ?? 1024 * 1024,
    onRetry: options.onRetry,
    random: options.random ?? Math.random,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? sleep,
  };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be an integer >= 1, got ${resolved.maxAttempts}`);
  }
  for (const name of ['baseDelay', 'maxDelay', 'maxRetryAfter', 'maxBufferedBody'] as const) {
    if (!(resolved[name] >= 0)) throw new RangeError(`${name} must be >= 0, got ${resolved[name]}`);
  }
  for (const name of ['attemptTimeout', 'deadline'] as const) {
    if (!(resolved[name] > 0)) throw new RangeError(`${name} must be > 0, got ${resolved[name]}`);
  }
  return resolved;
}
