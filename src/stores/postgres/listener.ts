/**
 * One LISTEN connection per store, shared by every waiter in this process. NOTIFY payloads carry
 * the record key; each waiter wakes when its key is named.
 *
 * Records send NOTIFY only once a waiter marked them (see sql.ts), so a watch marks its key once
 * the connection is listening: marking before that could let a change slip between the mark and
 * the LISTEN. A key is marked once per process while its mark is fresh, not on every watch (the
 * engine watches anew after each poll).
 */

/** The part of a pg `PoolClient` the listener uses. */
export interface ListenClient {
  query(text: string): Promise<unknown>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  /** pg-pool: `release(true)` or `release(error)` destroys the connection instead of pooling it. */
  release(destroy?: boolean | Error): void;
}

/** The part of a pg `Pool` the listener uses. */
export interface ListenPool {
  connect(): Promise<ListenClient>;
}

export interface KeyListener {
  watch(key: string, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** A mark older than this is made again by the next watch of its key. */
const markFreshMs = 60_000;
/** Past this many remembered marks, stale ones are forgotten. */
const maxMarks = 1000;

/**
 * @param mark Marks the key's record as waited on; resolves to false when there is no record in
 *   flight to mark (it completed, was released, or never existed): its waiters wake to re-check.
 */
export function keyListener(
  pool: ListenPool,
  channel: string,
  mark: (key: string) => Promise<boolean>,
): KeyListener {
  const waiters = new Map<string, Set<() => void>>();
  /** Keys this process marked, and when. */
  const marked = new Map<string, number>();
  /** The open (or opening) connection; resolves to the function that lets go of it. */
  let connection: Promise<() => void> | undefined;
  let listening = false;
  let closed = false;

  function wake(key: string): void {
    marked.delete(key);
    const listeners = waiters.get(key);
    if (!listeners) return;
    waiters.delete(key);
    for (const listener of listeners) listener();
  }

  function wakeAll(): void {
    marked.clear();
    for (const key of [...waiters.keys()]) wake(key);
  }

  function markOnce(key: string): void {
    const now = Date.now();
    const at = marked.get(key);
    if (at !== undefined && now - at < markFreshMs) return;
    if (marked.size >= maxMarks) {
      for (const [old, when] of marked) if (now - when >= markFreshMs) marked.delete(old);
      if (marked.size >= maxMarks) marked.clear();
    }
    marked.set(key, now);
    mark(key).then(
      (inFlight) => {
        if (!inFlight) wake(key);
      },
      // Could not mark (a store failure): let the waiter re-check, which reports the failure.
      () => wake(key),
    );
  }

  function open(): Promise<() => void> {
    const opening = (async () => {
      const client = await pool.connect();
      let dropped = false;
      const drop = (error?: Error): void => {
        if (dropped) return;
        dropped = true;
        if (connection === opening) {
          connection = undefined;
          listening = false;
        }
        try {
          // Destroy rather than pool it: a connection that was LISTENing must not serve user queries.
          client.release(error ?? true);
        } catch {
          // pg-pool refuses a second release; the connection is gone either way.
        }
        // Notifications sent while the connection was down are lost; let waiters re-check now.
        wakeAll();
      };
      // Without an 'error' listener a dropped connection would crash the process. The next
      // watch() opens a new connection.
      client.on('error', (error) => drop(error));
      client.on('end', () => drop());
      client.on('notification', (message) => {
        if (message.channel === channel && message.payload !== undefined) wake(message.payload);
      });
      try {
        await client.query(`LISTEN "${channel}"`);
      } catch (error) {
        drop(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
      return () => drop();
    })();
    return opening;
  }

  return {
    watch(key: string, signal: AbortSignal): Promise<void> {
      return new Promise((resolve) => {
        if (signal.aborted || closed) return resolve();
        const listeners = waiters.get(key) ?? new Set();
        waiters.set(key, listeners);
        const done = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          listeners.delete(done);
          if (listeners.size === 0 && waiters.get(key) === listeners) waiters.delete(key);
          resolve();
        };
        listeners.add(done);
        signal.addEventListener('abort', onAbort, { once: true });

        if (listening) return markOnce(key);
        if (connection) return;
        const opening = open();
        connection = opening;
        opening.then(
          // Changes made while we were connecting were not heard, and no key is marked yet: wake
          // everyone to re-check once (and watch again, which marks).
          () => {
            if (connection === opening) listening = true;
            wakeAll();
          },
          () => {
            // Could not listen (server down, pool exhausted): waiters stay until their signal
            // aborts while the engine keeps polling; the next watch() tries again.
            if (connection === opening) connection = undefined;
          },
        );
      });
    },

    async close(): Promise<void> {
      closed = true;
      wakeAll();
      const letGo = await connection?.catch(() => undefined);
      letGo?.();
    },
  };
}
