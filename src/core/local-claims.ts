import type { StoredResponse } from './store.js';

/** What a waiter learns when a key this process held is settled. */
export interface Settlement {
  /** The stored response and the fingerprint it answers; absent when released or the outcome is unknown. */
  stored?: { fingerprint: string; response: StoredResponse };
}

/**
 * The keys this process's own executions hold, and in-process wake-ups for them. Duplicates
 * usually reach the instance running the original (a client's retries reuse its connection), so
 * a waiter that finds the key held here needs neither polling nor the store's notifications: the
 * execution hands it the response it stored, and the waiter answers without another store read.
 */
export class LocalClaims {
  /** Storage key → the fencing token of this process's execution holding it. */
  readonly #held = new Map<string, string>();
  readonly #waiters = new Map<string, Set<(settlement: Settlement) => void>>();

  hold(key: string, token: string): void {
    this.#held.set(key, token);
  }

  /** Whether `token` is the claim of an execution in this process that has not settled yet. */
  holds(key: string, token: string): boolean {
    return this.#held.get(key) === token;
  }

  /** The execution holding `token` completed (pass what it stored) or released the key: wake its waiters. */
  settle(key: string, token: string, settlement: Settlement): void {
    if (this.#held.get(key) === token) this.#held.delete(key);
    const waiters = this.#waiters.get(key);
    if (!waiters) return;
    this.#waiters.delete(key);
    for (const wake of waiters) wake(settlement);
  }

  /** Resolves at the next settlement of `key` in this process, or with nothing when `signal` aborts. */
  next(key: string, signal: AbortSignal): Promise<Settlement> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve({});
      let waiters = this.#waiters.get(key);
      if (!waiters) {
        waiters = new Set();
        this.#waiters.set(key, waiters);
      }
      const set = waiters;
      const wake = (settlement: Settlement): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(settlement);
      };
      const onAbort = (): void => {
        set.delete(wake);
        if (set.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
        resolve({});
      };
      set.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
