/**
 * Counts handler executions per idempotency key, inside the server process, so a layer that runs
 * a handler twice for one key is caught whatever it answers.
 */
export class ExecutionLedger {
  readonly #perKey = new Map<string, number>();
  #executions = 0;
  #repeatedKeys = 0;

  record(key: string | undefined): void {
    this.#executions++;
    if (key === undefined) return;
    const count = (this.#perKey.get(key) ?? 0) + 1;
    this.#perKey.set(key, count);
    if (count === 2) this.#repeatedKeys++;
  }

  /** Executions since the last reset. */
  get executions(): number {
    return this.#executions;
  }

  /** Keys that ran more than once over the life of the process. */
  get repeatedKeys(): number {
    return this.#repeatedKeys;
  }

  get keys(): number {
    return this.#perKey.size;
  }

  resetExecutions(): void {
    this.#executions = 0;
  }
}
