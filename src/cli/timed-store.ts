import type { Awaitable, IdempotencyStore } from '../core/store.js';
import type { Metrics } from './metrics.js';

/** A store whose calls are timed, and counted while they run so shutdown can wait for them. */
export interface TimedStore extends IdempotencyStore {
  /** Store calls that have started and not settled. */
  readonly pending: number;
  /** Resolves once no call is pending, or after `timeoutMs`; true when drained. */
  drained(timeoutMs: number): Promise<boolean>;
}

type Operation = 'acquire' | 'complete' | 'release' | 'renew' | 'get' | 'purgeExpired';

/**
 * Wrap a store so every call reports its latency to `metrics`. The engine sees an ordinary store;
 * `watch` and `close` pass through untimed (a watch lasts as long as a duplicate waits).
 *
 * @example
 * ```ts
 * const store = timedStore(sqliteStore({ database }), metrics);
 * const engine = createIdempotency({ store });
 * ```
 */
export function timedStore(inner: IdempotencyStore, metrics?: Metrics): TimedStore {
  let pending = 0;
  let waiters: Array<() => void> = [];
  const settle = (): void => {
    pending--;
    if (pending > 0) return;
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  };

  function timed<A extends unknown[], R>(operation: Operation, call: (...args: A) => Awaitable<R>) {
    return (...args: A): Promise<R> => {
      const startedAt = performance.now();
      pending++;
      const done = (failed: boolean) => {
        metrics?.observeStore(operation, (performance.now() - startedAt) / 1000, failed);
        settle();
      };
      let result: Promise<R>;
      try {
        result = Promise.resolve(call(...args));
      } catch (error) {
        done(true);
        return Promise.reject(error);
      }
      return result.then(
        (value) => {
          done(false);
          return value;
        },
        (error: unknown) => {
          done(true);
          throw error;
        },
      );
    };
  }

  const store: TimedStore = {
    get pending() {
      return pending;
    },
    drained(timeoutMs) {
      if (pending === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    acquire: timed('acquire', (record, now) => inner.acquire(record, now)),
    complete: timed('complete', (key, token, response, expiresAt) =>
      inner.complete(key, token, response, expiresAt),
    ),
    release: timed('release', (key, token) => inner.release(key, token)),
    renew: timed('renew', (key, token, leaseUntil) => inner.renew(key, token, leaseUntil)),
    get: timed('get', (key, now) => inner.get(key, now)),
    purgeExpired: timed('purgeExpired', (now) => inner.purgeExpired(now)),
  };
  if (inner.watch) store.watch = (key, signal) => inner.watch!(key, signal);
  if (inner.close) store.close = () => inner.close!();
  return store;
}
