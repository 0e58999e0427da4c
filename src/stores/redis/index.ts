import { asBuffer } from '../../core/bytes.js';
import type {
  AcquireResult,
  IdempotencyRecord,
  IdempotencyStore,
  NewRecord,
  StoredResponse,
} from '../../core/store.js';
import type { PubSubMode, RedisClient, RedisPipeline, RedisSubscriber } from './client.js';
import { decodeRecord, headersArgument } from './codec.js';
import { type RedisScript, scripts } from './scripts.js';
import { createSubscriptions } from './subscriptions.js';

export type { PubSubMode, RedisClient, RedisSubscriber } from './client.js';
export {
  fromNodeRedis,
  type NodeRedisClient,
  type NodeRedisCluster,
  type NodeRedisConnection,
} from './node-redis.js';

export interface RedisStoreOptions {
  client: RedisClient;
  /**
   * Prepended to every record key (default `'idemkit:'`). A record lives at `<prefix>{<key>}`; the
   * hash tag puts each record on one Cluster slot. Prefer it to ioredis's `keyPrefix`, which
   * sharded pub/sub cannot work with.
   */
  prefix?: string;
  /**
   * How waiting duplicates hear about changes: `'plain'` (PUBLISH/SUBSCRIBE), `'sharded'`
   * (SPUBLISH/SSUBSCRIBE, Redis 7: the message stays on the record's shard), or `false` (publish
   * nothing; the store has no `watch()` and the engine polls). Default: `'sharded'` on a cluster
   * (ioredis `Redis.Cluster`, or node-redis `createCluster()` through `fromNodeRedis`), `'plain'`
   * otherwise.
   */
  pubsub?: PubSubMode | false;
}

/**
 * A store on Redis 6+ or a Redis Cluster (7+ for sharded pub/sub), through a client you already
 * have: an ioredis `Redis` or `Redis.Cluster` as is, a node-redis client or cluster through
 * `fromNodeRedis`. Each operation is one Lua script on one key, so it is atomic and takes one round trip
 * (EVALSHA; EVAL once after the server lost its script cache).
 *
 * Expiry: visibility is decided by the record's stored `expiresAt` against the engine's `now`, so
 * clocks never disagree. Each key also carries a Redis TTL (PX `expiresAt - now` on acquire,
 * shifted along on complete) so Redis reclaims the space itself; `purgeExpired` has nothing to do.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { createIdempotency } from 'idemkit';
 * import { redisStore } from 'idemkit/stores/redis';
 *
 * const engine = createIdempotency({ store: redisStore({ client: new Redis(process.env.REDIS_URL!) }) });
 * ```
 *
 * @example node-redis
 * ```ts
 * import { createClient } from 'redis';
 * import { fromNodeRedis, redisStore } from 'idemkit/stores/redis';
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * const store = redisStore({ client: fromNodeRedis(client) });
 * ```
 */
export function redisStore(options: RedisStoreOptions): IdempotencyStore {
  const { client, prefix = 'idemkit:' } = options;
  if (/[{}]/.test(prefix)) {
    throw new TypeError(
      `redisStore: prefix must not contain { or } (it would move the hash tag), got ${prefix}`,
    );
  }
  const pubsub = options.pubsub ?? (client.isCluster === true ? 'sharded' : 'plain');
  const keyPrefix = client.options?.keyPrefix;
  if (pubsub === 'sharded' && typeof keyPrefix === 'string' && keyPrefix !== '') {
    // ioredis prefixes SSUBSCRIBE's channel (it counts as a key) but not the channel a script
    // publishes to, so waiters would never hear a thing.
    throw new TypeError(
      `redisStore: sharded pub/sub does not work with ioredis keyPrefix (${keyPrefix}); use the store's prefix option, or pubsub: 'plain'`,
    );
  }
  // Passed to the scripts that announce changes; empty strings switch announcing off.
  const publish = pubsub === false ? '' : pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH';
  const subscriptions =
    pubsub === false ? undefined : createSubscriptions(() => subscriberConnection(client, pubsub), pubsub);

  // The record key doubles as its pub/sub channel: the same name hashes to the same slot, which
  // sharded pub/sub requires.
  const recordKey = (key: string): string => `${prefix}{${key}}`;
  const channel = (key: string): string => (publish ? recordKey(key) : '');

  const { evalsha, evaluate } = scriptCalls(client);
  async function run(script: RedisScript, key: string, args: Array<string | Buffer>): Promise<unknown> {
    try {
      return await evalsha(script.sha, recordKey(key), args);
    } catch (error) {
      // The server forgot the script (restart, failover, SCRIPT FLUSH): EVAL runs and caches it.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return evaluate(script.source, recordKey(key), args);
    }
  }

  const store: IdempotencyStore = {
    async acquire(record: NewRecord, now: number): Promise<AcquireResult> {
      const ttl = Math.max(1, Math.ceil(record.expiresAt - now));
      const reply = await run(scripts.acquire, record.key, [
        record.fingerprint,
        record.token,
        String(record.leaseUntil),
        String(record.expiresAt),
        String(record.createdAt),
        String(now),
        String(ttl),
        publish,
        channel(record.key),
      ]);
      if (!Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1)) throw unexpected('acquire', reply);
      if (reply.length === 1) return { acquired: true, record: { ...record, state: 'in-flight' } };
      const stored = decodeRecord(record.key, reply.slice(1));
      return reply[0] === 1 ? { acquired: true, record: stored } : { acquired: false, record: stored };
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      expiresAt: number,
    ): Promise<boolean> {
      const reply = await run(scripts.complete, key, [
        token,
        String(expiresAt),
        String(response.status),
        headersArgument(response.headers),
        asBuffer(response.body),
        publish,
        channel(key),
      ]);
      return flag('complete', reply);
    },

    async release(key: string, token: string): Promise<boolean> {
      return flag('release', await run(scripts.release, key, [token, publish, channel(key)]));
    },

    async renew(key: string, token: string, leaseUntil: number): Promise<boolean> {
      return flag('renew', await run(scripts.renew, key, [token, String(leaseUntil)]));
    },

    async get(key: string, now: number): Promise<IdempotencyRecord | null> {
      const reply = await run(scripts.get, key, [String(now)]);
      if (reply === null) return null;
      if (!Array.isArray(reply)) throw unexpected('get', reply);
      return decodeRecord(key, reply);
    },

    /**
     * Always 0: every key carries a Redis TTL, so Redis deletes expired records by itself (within
     * its active-expiry cycle, and on access). Visibility never waits for that: reads compare the
     * stored `expiresAt` with `now`.
     */
    async purgeExpired(): Promise<number> {
      return 0;
    },

    async close(): Promise<void> {
      subscriptions?.close();
    },
  };
  if (subscriptions) {
    store.watch = (key: string, signal: AbortSignal) => subscriptions.watch(recordKey(key), signal);
  }
  return store;
}

type ScriptCall = (script: string, key: string, args: Array<string | Buffer>) => Promise<unknown>;

/**
 * EVALSHA and EVAL on one key: through the client's own methods where it has them (see
 * `RedisClient`). Looked up on every call, so instrumentation that wraps them later still sees
 * every command.
 *
 * An ioredis Cluster that auto-pipelines sends each call as a pipeline of its own. Its
 * auto-pipelining groups the commands of one turn by the node serving their first argument,
 * which for EVALSHA and EVAL is the script, not the key: claims for keys of different nodes
 * landed in one pipeline, which ioredis refuses whole ("All keys in the pipeline should belong
 * to the same slots allocation group"), so concurrent requests all failed. An explicit pipeline
 * is routed by its command's key.
 */
function scriptCalls(client: RedisClient): { evalsha: ScriptCall; evaluate: ScriptCall } {
  if (client.isCluster === true && client.options?.enableAutoPipelining === true && client.pipeline) {
    const alone = async (queue: (pipeline: RedisPipeline) => RedisPipeline): Promise<unknown> => {
      const pipeline = (client.pipeline as () => RedisPipeline).call(client);
      const replies = await queue(pipeline).exec();
      const [error, reply] = replies?.[0] ?? [new Error('redisStore: a pipeline came back empty'), null];
      if (error) throw error;
      return reply;
    };
    return {
      evalsha: (sha, key, args) => alone((pipeline) => pipeline.evalshaBuffer(sha, 1, key, ...args)),
      evaluate: (source, key, args) => alone((pipeline) => pipeline.evalBuffer(source, 1, key, ...args)),
    };
  }
  if (typeof client.evalshaBuffer === 'function' && typeof client.evalBuffer === 'function') {
    const named = client as Required<Pick<RedisClient, 'evalshaBuffer' | 'evalBuffer'>>;
    return {
      evalsha: (sha, key, args) => named.evalshaBuffer(sha, 1, key, ...args),
      evaluate: (source, key, args) => named.evalBuffer(source, 1, key, ...args),
    };
  }
  return {
    evalsha: (sha, key, args) => client.callBuffer('EVALSHA', sha, '1', key, ...args),
    evaluate: (source, key, args) => client.callBuffer('EVAL', source, '1', key, ...args),
  };
}

function subscriberConnection(client: RedisClient, mode: PubSubMode): RedisSubscriber {
  if (mode === 'sharded' && client.isCluster === true) {
    // ioredis routes SSUBSCRIBE to the right shard only on a Cluster created with
    // shardedSubscribers: true (one subscriber connection per master); Cluster.duplicate takes
    // (startupNodes, options), which the structural RedisClient type does not spell out.
    const duplicateCluster = client.duplicate as unknown as (
      startupNodes: unknown[],
      options: { shardedSubscribers: boolean },
    ) => RedisSubscriber;
    return duplicateCluster.call(client, [], { shardedSubscribers: true });
  }
  return client.duplicate();
}

function flag(operation: string, reply: unknown): boolean {
  if (reply !== 0 && reply !== 1) throw unexpected(operation, reply);
  return reply === 1;
}

function unexpected(operation: string, reply: unknown): Error {
  const shown = Array.isArray(reply) ? `an array of ${reply.length}` : typeof reply;
  return new Error(`redisStore: unexpected reply to ${operation}: ${shown}`);
}
