import type { PubSubMode, RedisSubscriber } from './client.js';

/**
 * The pub/sub side of `watch()`: one dedicated subscriber connection, opened on the first watch,
 * shared by every waiter, with one Redis subscription per watched record (dropped when its last
 * waiter leaves). Notifications are hints: if one is lost (subscriber reconnecting, a change that
 * lands before SUBSCRIBE is acknowledged), the engine's polling still finds the change.
 */

export interface Subscriptions {
  /** Resolves on the next message on `channel`, or when `signal` aborts, or on close(). */
  watch(channel: string, signal: AbortSignal): Promise<void>;
  close(): void;
}

export function createSubscriptions(connect: () => RedisSubscriber, mode: PubSubMode): Subscriptions {
  const waiters = new Map<string, Set<() => void>>();
  let subscriber: RedisSubscriber | undefined;
  let closed = false;

  function connection(): RedisSubscriber {
    if (subscriber) return subscriber;
    const created = connect();
    created.on(mode === 'sharded' ? 'smessage' : 'message', notified);
    // The client reconnects on its own; meanwhile waiters fall back to the engine's polling, so a
    // subscriber error costs latency only and must not surface as an unhandled 'error' event.
    created.on('error', () => undefined);
    subscriber = created;
    return created;
  }

  async function send(action: 'subscribe' | 'unsubscribe', channel: string): Promise<void> {
    const connected = connection();
    if (mode === 'plain') {
      await (action === 'subscribe' ? connected.subscribe(channel) : connected.unsubscribe(channel));
      return;
    }
    const sharded = action === 'subscribe' ? connected.ssubscribe : connected.sunsubscribe;
    if (!sharded) {
      throw new TypeError(`redisStore: the subscriber has no s${action} (needed for sharded pub/sub)`);
    }
    await sharded.call(connected, channel);
  }

  function unsubscribe(channel: string): void {
    if (!closed) send('unsubscribe', channel).catch(() => undefined);
  }

  function notified(channel: string): void {
    const listeners = waiters.get(channel);
    if (!listeners) return;
    waiters.delete(channel);
    unsubscribe(channel);
    for (const listener of listeners) listener();
  }

  return {
    watch(channel: string, signal: AbortSignal): Promise<void> {
      return new Promise((resolve) => {
        if (signal.aborted || closed) return resolve();
        let listeners = waiters.get(channel);
        if (!listeners) {
          const fresh = new Set<() => void>();
          waiters.set(channel, fresh);
          listeners = fresh;
          send('subscribe', channel).catch(() => {
            // Forget the channel so the next watch tries again; these waiters rely on polling.
            if (waiters.get(channel) === fresh) waiters.delete(channel);
          });
        }
        const own = listeners;
        const done = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          own.delete(done);
          if (own.size === 0 && waiters.get(channel) === own) {
            waiters.delete(channel);
            unsubscribe(channel);
          }
          resolve();
        };
        own.add(done);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },

    close(): void {
      closed = true;
      const pending = [...waiters.values()];
      waiters.clear();
      for (const listeners of pending) for (const listener of listeners) listener();
      subscriber?.disconnect();
      subscriber = undefined;
    },
  };
}
