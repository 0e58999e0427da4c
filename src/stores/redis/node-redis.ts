import type { RedisClient, RedisSubscriber } from './client.js';

/**
 * node-redis's RESP type byte for bulk ("blob") strings, the key of `RESP_TYPES.BLOB_STRING` in its
 * `typeMapping`. Mapping it to Buffer makes replies binary-safe without importing node-redis.
 */
const blobString = 36;
const bufferReplies = { typeMapping: { [blobString]: Buffer } };

/** node-redis calls listeners with (message, channel); strings unless subscribed in buffer mode. */
type NodeRedisListener = (message: string | Buffer, channel: string | Buffer) => unknown;

/** The part of a node-redis v5 client (`createClient()`, connected) that `fromNodeRedis` calls. */
export interface NodeRedisClient {
  sendCommand(
    args: Array<string | Buffer>,
    options?: { typeMapping?: Record<number, unknown> },
  ): Promise<unknown>;
  duplicate(): NodeRedisConnection;
}

/** The part of a node-redis v5 cluster (`createCluster()`, connected) that `fromNodeRedis` calls. */
export interface NodeRedisCluster {
  sendCommand(
    firstKey: string | Buffer | undefined,
    isReadonly: boolean | undefined,
    args: Array<string | Buffer>,
    options?: { typeMapping?: Record<number, unknown> },
  ): Promise<unknown>;
  duplicate(): NodeRedisConnection;
  /** Only a cluster has it; it tells the two apart. */
  readonly masters: unknown;
}

/** The part of a duplicated node-redis client used as the `watch()` subscriber. */
export interface NodeRedisConnection {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: NodeRedisListener): Promise<unknown>;
  unsubscribe(channel: string, listener: NodeRedisListener): Promise<unknown>;
  sSubscribe(channel: string, listener: NodeRedisListener): Promise<unknown>;
  sUnsubscribe(channel: string, listener: NodeRedisListener): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy(): unknown;
}

/**
 * Adapt a node-redis v5 client (`createClient()`) or cluster (`createCluster()`) to what
 * `redisStore` calls. The client stays yours: connect it before use and close it after
 * `store.close()`. A cluster gets sharded pub/sub by default, as an ioredis Cluster does.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { fromNodeRedis, redisStore } from 'idemkit/stores/redis';
 *
 * const store = redisStore({ client: fromNodeRedis(await createClient().connect()) });
 * ```
 */
export function fromNodeRedis(client: NodeRedisClient | NodeRedisCluster): RedisClient {
  if ('masters' in client) {
    return {
      isCluster: true,
      // The store sends only EVAL and EVALSHA with one key (after the script and "1"); the
      // cluster routes the command to the node that owns that key's slot.
      callBuffer: (command, ...args) => client.sendCommand(args[2], false, [command, ...args], bufferReplies),
      duplicate: () => subscriberFrom(client.duplicate()),
    };
  }
  return {
    callBuffer: (command, ...args) => client.sendCommand([command, ...args], bufferReplies),
    duplicate: () => subscriberFrom(client.duplicate()),
  };
}

function subscriberFrom(connection: NodeRedisConnection): RedisSubscriber {
  const listeners = {
    message: new Set<(channel: string) => void>(),
    smessage: new Set<(channel: string) => void>(),
  };
  // An 'error' event nobody listens to would be thrown. node-redis reconnects by itself, and
  // meanwhile waiters fall back to polling, so the subscriber's errors are dropped here.
  connection.on('error', () => undefined);
  const onMessage: NodeRedisListener = (_message, channel) => {
    for (const listener of listeners.message) listener(channel.toString());
  };
  const onShardMessage: NodeRedisListener = (_message, channel) => {
    for (const listener of listeners.smessage) listener(channel.toString());
  };

  let connecting: Promise<unknown> | undefined;
  const connected = (): Promise<unknown> => {
    connecting ??= connection.connect().catch((error: unknown) => {
      connecting = undefined;
      throw error;
    });
    return connecting;
  };

  return {
    async subscribe(channel) {
      await connected();
      return connection.subscribe(channel, onMessage);
    },
    async unsubscribe(channel) {
      await connected();
      return connection.unsubscribe(channel, onMessage);
    },
    async ssubscribe(channel) {
      await connected();
      return connection.sSubscribe(channel, onShardMessage);
    },
    async sunsubscribe(channel) {
      await connected();
      return connection.sUnsubscribe(channel, onShardMessage);
    },
    on(event, listener) {
      if (event !== 'error') listeners[event].add(listener);
    },
    disconnect() {
      try {
        if (connecting) connection.destroy();
      } catch {
        // Already closed.
      }
      connecting = Promise.reject(new Error('the subscriber is closed'));
      connecting.catch(() => undefined);
    },
  };
}
