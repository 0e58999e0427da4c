/** Waits `ms`, or rejects with `signal.reason` as soon as `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** setTimeout caps at 2^31-1 ms; longer waits would fire at once. */
const longestTimer = 2 ** 31 - 1;

/** The real-time {@link Sleep}. */
export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.min(Math.max(0, ms), longestTimer),
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
