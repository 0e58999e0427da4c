import type { StoredResponse } from './store.js';

/** What a waiter learns when a key this process held is settled. */
export interface Settlement {
  /** The stored response and the fingerprint it answers; absent when released or the outcome is unknown. */
  stored?: { fingerprint: string; response: StoredResponse };
}

/** A wait on one key in this process: `settlement` resolves once, with nothing when it timed out or was cancelled. */
export interface LocalWait {
  readonly settlement: Promise<Settlement>;
  /** Stop waiting (resolves `settlement` with nothing if it is still pending). */
  cancel(): void;
}

const nothing: Settlement = {};

/**
 * The keys this process's own executions hold, and in-process wake-ups for them. Duplicates
 * usually reach the instance running the original (a client's retries reuse its connection), so
 * a waiter that finds the key held here needs neither polling nor the store's notifications: the
 * execution hands it the response it stored, and the waiter answers without another store read.
 *
 * A wait is a timer and a callback in a set: the hand-over runs in a burst (every duplicate of a
 * key at once), so it allocates no AbortController or event listener per waiter.
 */
export class LocalClaims {
  /**
   * Storage key → the fencing token of this process's execution holding it. With a synchronous
   * store and handler, a key is held and let go in one turn, so the map swings between zero
   * entries and one: V8 then gives it a new table on nearly every set and delete (it shrinks an
   * empty map's table, and grows it again). One entry that is never a storage key (those are
   * hashes) keeps it from emptying: a set and delete took 135 ns that way and 84 ns this way.
   */
  readonly #held = new Map<string, string>([['', '']]);
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

  /** Wait for the next settlement of `key` in this process, at most `ms`. */
  wait(key: string, ms: number): LocalWait {
    let waiters = this.#waiters.get(key);
    if (!waiters) {
      waiters = new Set();
      this.#waiters.set(key, waiters);
    }
    const set = waiters;
    let resolve!: (settlement: Settlement) => void;
    const settlement = new Promise<Settlement>((done) => {
      resolve = done;
    });
    const wake = (outcome: Settlement): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    const cancel = (): void => {
      clearTimeout(timer);
      if (set.delete(wake) && set.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
      resolve(nothing);
    };
    const timer = setTimeout(cancel, Math.max(ms, 1));
    set.add(wake);
    return { settlement, cancel };
  }
}
