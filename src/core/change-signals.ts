/**
 * In-process wake-ups: when this process completes or releases a key, duplicates waiting for it
 * in the same process hear about it at once, whatever the store (most duplicates arrive at the
 * same instance, since a client's retries usually reuse its connection).
 */
export class ChangeSignals {
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Resolves at the next `notify(key)`, or when `signal` aborts. */
  next(key: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      let waiters = this.#waiters.get(key);
      if (!waiters) {
        waiters = new Set();
        this.#waiters.set(key, waiters);
      }
      const set = waiters;
      const wake = (): void => {
        set.delete(wake);
        if (set.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      set.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  notify(key: string): void {
    const waiters = this.#waiters.get(key);
    if (!waiters) return;
    for (const wake of [...waiters]) wake();
  }
}
