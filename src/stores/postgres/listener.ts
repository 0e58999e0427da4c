/**
 * One LISTEN connection per store, shared by every waiter in this process. NOTIFY payloads carry
 * the record key; each waiter wakes when its key is named.
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

export function keyListener(pool: ListenPool, channel: string): KeyListener {
  const waiters = new Map<string, Set<() => void>>();
  /** The open (or opening) connection; resolves to the function that lets go of it. */
  let connection: Promise<() => void> | undefined;
  let closed = false;

  function wake(key: string): void {
    const listeners = waiters.get(key);
    if (!listeners) return;
    waiters.delete(key);
    for (const listener of listeners) listener();
  }

  function wakeAll(): void {
    for (const key of [...waiters.keys()]) wake(key);
  }

  function open(): Promise<() => void> {
    const opening = (async () => {
      const client = await pool.connect();
      let dropped = false;
      const drop = (error?: Error): void => {
        if (dropped) return;
        dropped = true;
        if (connection === opening) connection = undefined;
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

        if (connection) return;
        const opening = open();
        connection = opening;
        opening.then(
          // Changes made while we were connecting were not heard: wake everyone to re-check once.
          () => wakeAll(),
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
