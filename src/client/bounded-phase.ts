import type { Sleep } from './sleep.js';

/**
 * One stretch of a call that must stop when the caller aborts or when its time runs out: reading a
 * request body, one attempt, one wait between attempts.
 */
export interface BoundedPhase {
  /** Aborts with the caller's reason, or with the timeout reason when time runs out. */
  readonly signal: AbortSignal;
  /**
   * Settles like `promise`, or rejects with the abort reason as soon as `signal` aborts — even if
   * whatever produces `promise` ignores the signal (a custom fetch, a custom sleep).
   */
  race<T>(promise: Promise<T>): Promise<T>;
  /** True when the phase was aborted by its timeout rather than by the caller. */
  readonly timedOut: boolean;
  /** Stops the timer and stops following the caller's signal. */
  end(): void;
  /**
   * Stops the timer but keeps following the caller's signal until `holder` is garbage-collected:
   * fetch lets the caller's signal cancel a response body that is still being read, and the
   * response we return is read after the call returned.
   */
  endFollowingCallerWhile(holder: object): void;
}

const unlinkWhenCollected = new FinalizationRegistry<() => void>((unlink) => unlink());

/**
 * Starts a phase that lasts at most `timeout` ms (`Infinity` for no limit), measured with `sleep`
 * so tests can drive it with a fake clock.
 */
export function startPhase(
  callerSignal: AbortSignal | null | undefined,
  timeout: number,
  sleep: Sleep,
  timeoutReason: () => unknown,
): BoundedPhase {
  const controller = new AbortController();
  const stopTimer = new AbortController();
  let timedOut = false;

  const followCaller = () => controller.abort(callerSignal?.reason);
  const unfollowCaller = () => callerSignal?.removeEventListener('abort', followCaller);
  if (callerSignal?.aborted) controller.abort(callerSignal.reason);
  else callerSignal?.addEventListener('abort', followCaller, { once: true });

  if (Number.isFinite(timeout) && !controller.signal.aborted) {
    sleep(Math.max(0, timeout), stopTimer.signal).then(
      () => {
        if (stopTimer.signal.aborted || controller.signal.aborted) return;
        timedOut = true;
        controller.abort(timeoutReason());
      },
      () => {},
    );
  }

  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(controller.signal.reason);
    if (controller.signal.aborted) fail();
    else controller.signal.addEventListener('abort', fail, { once: true });
  });
  aborted.catch(() => {});

  return {
    signal: controller.signal,
    race: (promise) => Promise.race([promise, aborted]),
    get timedOut() {
      return timedOut;
    },
    end() {
      stopTimer.abort();
      unfollowCaller();
    },
    endFollowingCallerWhile(holder) {
      stopTimer.abort();
      if (callerSignal) unlinkWhenCollected.register(holder, unfollowCaller);
    },
  };
}
