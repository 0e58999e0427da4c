/**
 * The memory store's records, oldest first, for expiry and eviction: a queue beside the `Map`
 * that holds them. The `Map`'s own order would do, but V8 leaves each deleted entry behind as a
 * hole until the table is next resized, and a scan from the front walks every hole again: a store
 * at its bound, or one whose oldest records keep expiring, spent ~100 µs per claim that way.
 *
 * An entry is live while the `Map` still holds that very record. Records deleted elsewhere
 * (released, purged, replaced after expiry) stay here as stale entries until they reach the
 * front or the queue is compacted, which happens once stale entries outnumber live ones.
 */
export class CreationOrder<R extends { readonly key: string }> {
  readonly #records: ReadonlyMap<string, R>;
  #queue: Array<R | undefined> = [];
  #head = 0;

  constructor(records: ReadonlyMap<string, R>) {
    this.#records = records;
  }

  /** Entries, live or stale. */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  add(record: R): void {
    this.#queue.push(record);
    if (this.length > 2 * this.#records.size + 1024) this.#compact();
  }

  /** The oldest live record, dropping the stale entries before it. */
  oldest(): R | undefined {
    for (;;) {
      const record = this.#queue[this.#head];
      if (record === undefined || this.#isLive(record)) return record;
      this.shift();
    }
  }

  /** Drop the front entry (the caller deleted its record, or moves it to the back with `add`). */
  shift(): R | undefined {
    const record = this.#queue[this.#head];
    if (record === undefined) return undefined;
    this.#queue[this.#head++] = undefined;
    // Slice off the dropped front once it is most of the array: amortised O(1) per entry.
    if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return record;
  }

  #isLive(record: R): boolean {
    return this.#records.get(record.key) === record;
  }

  #compact(): void {
    const live: R[] = [];
    for (let i = this.#head; i < this.#queue.length; i++) {
      const record = this.#queue[i];
      if (record !== undefined && this.#isLive(record)) live.push(record);
    }
    this.#queue = live;
    this.#head = 0;
  }
}
