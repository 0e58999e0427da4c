import type { IdempotencyStore } from '../../src/core/store.js';
import type { StoreCallCounts } from '../shared/protocol.js';

/**
 * The store as the engine sees it, with every call counted. Counting sits here, in the
 * benchmark's server process, and never in the library: the library stays as shipped.
 */
export function countingStore<Store extends IdempotencyStore>(
  store: Store,
): { store: IdempotencyStore; counts: StoreCallCounts; reset(): void } {
  const counts: StoreCallCounts = { acquire: 0, complete: 0, release: 0, renew: 0, get: 0, watch: 0 };
  const counted: IdempotencyStore = {
    acquire: (record, now) => {
      counts.acquire++;
      return store.acquire(record, now);
    },
    complete: (key, token, response, expiresAt) => {
      counts.complete++;
      return store.complete(key, token, response, expiresAt);
    },
    release: (key, token) => {
      counts.release++;
      return store.release(key, token);
    },
    renew: (key, token, leaseUntil) => {
      counts.renew++;
      return store.renew(key, token, leaseUntil);
    },
    get: (key, now) => {
      counts.get++;
      return store.get(key, now);
    },
    purgeExpired: (now) => store.purgeExpired(now),
  };
  const { watch, close } = store;
  if (watch) {
    counted.watch = (key, signal) => {
      counts.watch++;
      return watch.call(store, key, signal);
    };
  }
  if (close) counted.close = () => close.call(store);
  return {
    store: counted,
    counts,
    reset() {
      for (const name of Object.keys(counts) as Array<keyof StoreCallCounts>) counts[name] = 0;
    },
  };
}

/** Counts calls of some methods on a driver object (pg `query`, ioredis `evalshaBuffer`…), in place. */
export function countCalls<Target extends object>(
  target: Target,
  ...methods: Array<keyof Target & string>
): { count: number } {
  const counter = { count: 0 };
  for (const method of methods) {
    const original = target[method] as unknown as (...args: unknown[]) => unknown;
    (target as Record<string, unknown>)[method] = function counted(this: unknown, ...args: unknown[]) {
      counter.count++;
      return original.apply(this, args);
    };
  }
  return counter;
}
