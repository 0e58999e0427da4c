/**
 * A virtual clock for code that takes `now` and `sleep` options: time moves only when a sleep
 * completes, so tests assert exact waits without waiting.
 *
 * A sleep completes on the next macrotask unless its signal aborted first. Work that settles in
 * microtasks (a scripted fetch, an in-memory body) therefore always beats a timer started beside
 * it, and a timer that was cancelled never moves the clock.
 */
export interface FakeClock {
  now: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Every wait that ran to completion, in order (cancelled timers are not here). */
  readonly slept: number[];
  /** Moves time without a sleep (e.g. "the attempt took 300 ms"). */
  advance(ms: number): void;
}

export function fakeClock(start = 0): FakeClock {
  let time = start;
  const slept: number[] = [];
  return {
    now: () => time,
    slept,
    advance(ms) {
      time += ms;
    },
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          if (signal.aborted) return reject(signal.reason);
          time += ms;
          slept.push(ms);
          resolve();
        });
      }),
  };
}
