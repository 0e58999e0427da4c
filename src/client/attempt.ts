import { startPhase } from './bounded-phase.js';
import { isNetworkError, type RetryReason, retryReasonForResponse } from './retry-policy.js';
import type { Sleep } from './sleep.js';

/** The fetch a client calls; global `fetch` fits, and so does any function that takes a Request. */
export type FetchFunction = (request: Request) => Promise<Response>;

/** What one attempt produced: a response or an error, and whether it is worth another attempt. */
export type AttemptResult =
  | { response: Response; error?: undefined; retryReason: RetryReason | undefined }
  | { response?: undefined; error: unknown; retryReason: RetryReason | undefined };

export interface AttemptContext {
  fetch: FetchFunction;
  /** The request to send; built fresh for this attempt so its body is unread. */
  request: (signal: AbortSignal) => Request;
  callerSignal: AbortSignal | null | undefined;
  /** ms until this attempt is abandoned (`Infinity` for never). */
  timeout: number;
  timeoutReason: () => unknown;
  sleep: Sleep;
}

/**
 * Sends one request and classifies the outcome. Rejects only when the caller aborted (with the
 * caller's reason); every other failure is a result, so the loop can decide what to do next.
 */
export async function runAttempt(context: AttemptContext): Promise<AttemptResult> {
  const phase = startPhase(context.callerSignal, context.timeout, context.sleep, context.timeoutReason);
  // Built outside the try: a request that cannot even be built must not count as a network error.
  const request = context.request(phase.signal);
  let pending: Promise<Response> | undefined;
  let response: Response | undefined;
  try {
    pending = context.fetch(request);
    pending.catch(() => {});
    response = await phase.race(pending);
    const retryReason = await phase.race(retryReasonForResponse(response));
    if (retryReason === undefined) phase.endFollowingCallerWhile(response);
    else phase.end();
    return { response, retryReason };
  } catch (error) {
    phase.end();
    // An answer we stopped waiting for still holds a socket until its body is released.
    if (response !== undefined) discard(response);
    else pending?.then(discard, () => {});
    if (context.callerSignal?.aborted) throw context.callerSignal.reason;
    if (phase.timedOut) return { error: phase.signal.reason, retryReason: 'attempt-timeout' };
    return { error, retryReason: isNetworkError(error) ? 'network-error' : undefined };
  }
}

/** Releases a response we will not return, so its connection goes back to the pool (or closes). */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}
