import { discard, runAttempt } from './attempt.js';
import { backoffDelay, retryAfterDelay } from './backoff.js';
import { startPhase } from './bounded-phase.js';
import { type GiveUpReason, rememberOutcome } from './fetch-outcome.js';
import { IdempotentFetchError } from './idempotent-fetch-error.js';
import {
  type IdempotentFetchOptions,
  type ResolvedOptions,
  resolveOptions,
} from './idempotent-fetch-options.js';
import { type PreparedBody, prepareBody } from './replayable-body.js';
import { isIdempotentMethod } from './retry-policy.js';
import type { Sleep } from './sleep.js';

/** fetch's `init`, plus the key to use for this call when you have your own. */
export type IdempotentRequestInit = RequestInit & {
  /**
   * Use this key instead of a generated one: pass the same key when you repeat the same logical
   * operation later (after a crash, from a queue), and the server replays instead of repeating.
   */
  idempotencyKey?: string;
};

/** Same signature as fetch; see {@link createIdempotentFetch}. */
export type IdempotentFetch = (
  input: string | URL | Request,
  init?: IdempotentRequestInit,
) => Promise<Response>;

/** 1–255 printable ASCII characters, as the server requires; no edge spaces, which Headers would trim. */
const validKey = /^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/;

/**
 * A fetch that retries failed calls without ever doing the work twice. Each call to a POST or PATCH
 * (see `methods`) gets one `Idempotency-Key` (a random UUID, your `init.idempotencyKey`, or the
 * `Idempotency-Key` header you set), and every attempt of that call sends the same key, so the
 * server runs the operation once and replays its answer to the retries.
 *
 * Retried: network errors, attempt timeouts, 408, 425, 429, 502, 503, 504, and 409
 * `…/idempotency-key-in-flight`; with full-jitter exponential backoff, `Retry-After` honoured, up
 * to `maxAttempts` and `deadline`. Never retried: other statuses, and a request that has no key
 * unless its method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS).
 *
 * Ends with: the last Response when it is an HTTP answer (even a retryable one, once attempts run
 * out; see {@link fetchOutcomeOf}); an {@link IdempotentFetchError} (`cause`: the last error) when
 * no attempt got a response; the signal's reason when the caller aborts. {@link attemptsOf} and
 * {@link idempotencyKeyOf} tell how a response was obtained.
 *
 * @example
 * ```ts
 * import { createIdempotentFetch, attemptsOf } from 'idemkit/client';
 *
 * const idempotentFetch = createIdempotentFetch({ maxAttempts: 5, attemptTimeout: 10_000, deadline: 30_000 });
 * const response = await idempotentFetch('https://api.example.com/charges', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ amount: 1000 }),
 * });
 * console.log(response.status, attemptsOf(response));
 * ```
 */
export function createIdempotentFetch(options: IdempotentFetchOptions = {}): IdempotentFetch {
  const settings = resolveOptions(options);
  return (input, init) => callWithRetries(settings, input, init ?? {});
}

async function callWithRetries(
  settings: ResolvedOptions,
  input: string | URL | Request,
  init: IdempotentRequestInit,
): Promise<Response> {
  const { idempotencyKey: keyOption, signal: initSignal, ...requestInit } = init;
  const callerSignal = initSignal !== undefined ? initSignal : input instanceof Request ? input.signal : null;
  callerSignal?.throwIfAborted();
  const deadlineAt = settings.now() + settings.deadline;
  const remaining = () => deadlineAt - settings.now();
  const deadlinePassed = () =>
    new DOMException(`The deadline of ${settings.deadline} ms passed`, 'TimeoutError');

  // Built once, up front: a bad URL or a GET with a body throws here, before anything is sent, and
  // the platform merges a Request input with init exactly as fetch would.
  const template = new Request(input, { ...requestInit, signal: null, duplex: 'half' });
  const key = chooseKey(template, keyOption, settings.methods);
  const retrySafe = key !== undefined || isIdempotentMethod(template.method);

  const bodyPhase = startPhase(callerSignal, remaining(), settings.sleep, deadlinePassed);
  let body: PreparedBody;
  try {
    body = await bodyPhase.race(
      prepareBody(template, requestInit.body, settings.maxBufferedBody, bodyPhase.signal),
    );
  } catch (error) {
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (!bodyPhase.timedOut) throw error;
    throw new IdempotentFetchError('deadline', { attempts: 0, idempotencyKey: key, cause: error });
  } finally {
    bodyPhase.end();
  }

  for (let attempt = 1; ; attempt++) {
    const timeLeft = remaining();
    const cutByDeadline = timeLeft < settings.attemptTimeout;
    const attemptTimedOut = () =>
      new DOMException(`Attempt ${attempt} timed out after ${settings.attemptTimeout} ms`, 'TimeoutError');
    const result = await runAttempt({
      fetch: settings.fetch ?? globalThis.fetch,
      request: (signal) => new Request(template, { body: body.body, signal, duplex: 'half' }),
      callerSignal,
      timeout: Math.min(settings.attemptTimeout, timeLeft),
      timeoutReason: cutByDeadline ? deadlinePassed : attemptTimedOut,
      sleep: settings.sleep,
    });
    const { response, retryReason } = result;

    if (retryReason === undefined) {
      if (response === undefined) throw result.error;
      rememberOutcome(response, { attempts: attempt, idempotencyKey: key });
      return response;
    }

    const { gaveUp, delay } = decideNext(settings, {
      attempt,
      retrySafe,
      replayable: body.replayable,
      cutByDeadline: retryReason === 'attempt-timeout' && cutByDeadline,
      retryAfter: response?.headers.get('retry-after') ?? null,
      remaining,
    });
    if (gaveUp !== undefined) {
      const outcome = { attempts: attempt, idempotencyKey: key };
      if (response === undefined) throw new IdempotentFetchError(gaveUp, { ...outcome, cause: result.error });
      rememberOutcome(response, { ...outcome, gaveUp });
      return response;
    }

    if (response !== undefined) discard(response);
    const failure = response === undefined ? { error: result.error } : { status: response.status };
    settings.onRetry?.({ attempt, reason: retryReason, ...failure, delay, key });
    await waitBetweenAttempts(delay, callerSignal, settings.sleep);
  }
}

/** Sleeps `ms`, and rejects with the caller's reason the moment the caller aborts. */
async function waitBetweenAttempts(
  ms: number,
  callerSignal: AbortSignal | null,
  sleep: Sleep,
): Promise<void> {
  const wait = startPhase(callerSignal, Number.POSITIVE_INFINITY, sleep, () => undefined);
  try {
    await wait.race(sleep(ms, wait.signal));
  } finally {
    wait.end();
  }
}

interface NextStepFacts {
  /** The attempt that just failed. */
  attempt: number;
  retrySafe: boolean;
  replayable: boolean;
  /** The attempt was abandoned because the deadline, not `attemptTimeout`, ran out. */
  cutByDeadline: boolean;
  retryAfter: string | null;
  remaining: () => number;
}

/** After a retryable failure: stop (and why), or wait how long. Checked in order of finality. */
function decideNext(
  settings: ResolvedOptions,
  facts: NextStepFacts,
): { gaveUp: GiveUpReason; delay: 0 } | { gaveUp: undefined; delay: number } {
  if (!facts.retrySafe) return { gaveUp: 'not-retry-safe', delay: 0 };
  if (!facts.replayable) return { gaveUp: 'body-not-replayable', delay: 0 };
  if (facts.cutByDeadline) return { gaveUp: 'deadline', delay: 0 };
  if (facts.attempt >= settings.maxAttempts) return { gaveUp: 'attempts-exhausted', delay: 0 };
  const backoff = backoffDelay(facts.attempt, settings);
  const asked = retryAfterDelay(facts.retryAfter, settings.now());
  if (asked !== undefined && asked > settings.maxRetryAfter)
    return { gaveUp: 'retry-after-too-long', delay: 0 };
  const delay = Math.max(backoff, asked ?? 0);
  // A wait that ends at or past the deadline leaves no time for the attempt it waits for.
  if (delay >= facts.remaining()) return { gaveUp: 'deadline', delay: 0 };
  return { gaveUp: undefined, delay };
}

/**
 * The key for this call: an `Idempotency-Key` header already on the request wins, then the
 * caller's `idempotencyKey`, then a fresh UUID for the methods that get one. The chosen key is set
 * on the template, so every attempt carries it.
 */
function chooseKey(
  template: Request,
  keyOption: string | undefined,
  methods: ReadonlySet<string>,
): string | undefined {
  const headerKey = template.headers.get('idempotency-key');
  if (headerKey !== null) {
    if (keyOption !== undefined && keyOption !== headerKey) {
      throw new TypeError('idempotencyKey and the Idempotency-Key header disagree; give one of them');
    }
    return headerKey;
  }
  const key =
    keyOption ?? (methods.has(template.method.toUpperCase()) ? globalThis.crypto.randomUUID() : undefined);
  if (key === undefined) return undefined;
  if (!validKey.test(key)) {
    throw new TypeError(
      'idempotencyKey must be 1-255 printable ASCII characters without leading or trailing spaces',
    );
  }
  template.headers.set('idempotency-key', key);
  return key;
}
