/**
 * The structural client types: the library never imports a Redis driver, it calls these methods.
 * ioredis's `Redis` and `Redis.Cluster` fit them as they are; `fromNodeRedis` adapts node-redis.
 */

/** The part of a Redis client the store calls. */
export interface RedisClient {
  /** Send a command and get the reply with bulk strings as Buffers (binary-safe). */
  callBuffer(command: string, ...args: Array<string | Buffer>): Promise<unknown>;
  /**
   * EVALSHA and EVAL by name, replying as `callBuffer` does. ioredis has both (its types leave
   * them out), and the store prefers them: with `enableAutoPipelining` on, ioredis's `callBuffer`
   * sends its first argument as the command (redis/ioredis#1923), so every call would fail.
   */
  evalshaBuffer?(sha: string, numKeys: number, ...keysAndArgs: Array<string | Buffer>): Promise<unknown>;
  evalBuffer?(script: string, numKeys: number, ...keysAndArgs: Array<string | Buffer>): Promise<unknown>;
  /**
   * A one-off pipeline (ioredis). The store sends each script call as one only on an ioredis
   * Cluster with `enableAutoPipelining` (see `options`), whose automatic pipelines group commands
   * by the node of their first argument: for a script call that is the script, not the key.
   */
  pipeline?(): unknown;
  /** ioredis's options; the store reads `enableAutoPipelining` (and `keyPrefix`, to refuse it with sharded pub/sub). */
  readonly options?: { readonly enableAutoPipelining?: boolean; readonly keyPrefix?: unknown };
  /** A new connection like this one, for the pub/sub subscriber behind `watch()`. */
  duplicate(): RedisSubscriber;
  /** True on an ioredis `Redis.Cluster` (and a node-redis cluster from `fromNodeRedis`): sharded pub/sub by default. */
  readonly isCluster?: boolean;
}

/**
 * What the store needs from the pipeline `pipeline()` returns (ioredis has these methods; its
 * types leave the two script calls out, hence `unknown` above): queue a script call, send it,
 * read `[error, reply]` per command.
 */
export interface RedisPipeline {
  evalshaBuffer(sha: string, numKeys: number, ...keysAndArgs: Array<string | Buffer>): RedisPipeline;
  evalBuffer(script: string, numKeys: number, ...keysAndArgs: Array<string | Buffer>): RedisPipeline;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

/** What the store needs from the subscriber connection `duplicate()` returns. */
export interface RedisSubscriber {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Sharded pub/sub (Redis 7); needed only with `pubsub: 'sharded'`. */
  ssubscribe?(channel: string): Promise<unknown>;
  sunsubscribe?(channel: string): Promise<unknown>;
  /** 'message' / 'smessage' listeners get the channel first, as ioredis emits them; the store ignores what 'error' passes. */
  on(event: 'message' | 'smessage' | 'error', listener: (channel: string) => void): unknown;
  /** Close at once; the subscriber holds nothing worth a graceful QUIT. */
  disconnect(): unknown;
}

/** `'plain'`: PUBLISH/SUBSCRIBE. `'sharded'`: SPUBLISH/SSUBSCRIBE (Redis 7), the message stays on one shard. */
export type PubSubMode = 'plain' | 'sharded';
