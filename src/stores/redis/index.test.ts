import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { settlesWithin } from '../../../test/helpers/settles.js';
import type { IdempotencyStore, NewRecord } from '../../core/store.js';
import { runStoreContract } from '../../testing/index.js';
import { fromNodeRedis, type RedisClient, redisStore } from './index.js';

const url = 'redis://127.0.0.1:6379';
// One prefix per run, so parallel runs never share keys; every key under it is deleted after.
const prefix = `idemkit-test:${randomUUID()}:`;
const purgeCase = 'purgeExpired physically deletes expired records and keeps live ones';
const purgeSkip =
  'Redis deletes expired keys by its own TTL (tested below), not at an engine clock set far ahead';

/** The store contract, minus the purge case: Redis deletes expired keys by its own TTL. */
function redisContract(name: string, createStore: () => IdempotencyStore | Promise<IdempotencyStore>): void {
  runStoreContract({ name, createStore, skip: { [purgeCase]: purgeSkip }, describe, it });
}

const ioredis = new Redis(url);
const nodeRedis = createClient({ url });
const stores: IdempotencyStore[] = [];
const extraClients: Redis[] = [];

function track(store: IdempotencyStore): IdempotencyStore {
  stores.push(store);
  return store;
}

after(async () => {
  for (const store of stores) await store.close?.();
  let cursor = '0';
  do {
    const [next, keys] = await ioredis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await ioredis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  for (const client of extraClients) client.disconnect();
  pipelining.disconnect();
  ioredis.disconnect();
  if (nodeRedis.isOpen) await nodeRedis.close();
});

const ioredisStore = track(redisStore({ client: ioredis, prefix }));
redisContract('redis (ioredis)', () => ioredisStore);

// ioredis's callBuffer sends the wrong command under auto-pipelining (redis/ioredis#1923); the
// store must work with it all the same.
const pipelining = new Redis(url, { enableAutoPipelining: true });
const pipeliningStore = track(redisStore({ client: pipelining, prefix }));
redisContract('redis (ioredis with enableAutoPipelining)', () => pipeliningStore);

let nodeRedisStore: IdempotencyStore | undefined;
redisContract('redis (node-redis via fromNodeRedis)', async () => {
  if (!nodeRedis.isOpen) await nodeRedis.connect();
  nodeRedisStore ??= track(redisStore({ client: fromNodeRedis(nodeRedis), prefix }));
  return nodeRedisStore;
});

function newRecord(now = Date.now(), overrides: Partial<NewRecord> = {}): NewRecord {
  return {
    key: randomUUID().replaceAll('-', ''),
    fingerprint: 'f'.repeat(64),
    token: randomUUID(),
    createdAt: now,
    leaseUntil: now + 30_000,
    expiresAt: now + 86_400_000,
    ...overrides,
  };
}

/** A client that records the commands it sends, to count round trips; it has what `client` has. */
function recording(client: RedisClient): { client: RedisClient; commands: string[] } {
  const commands: string[] = [];
  const recorded: RedisClient = {
    callBuffer(command, ...args) {
      commands.push(command);
      return client.callBuffer(command, ...args);
    },
    duplicate: () => client.duplicate(),
  };
  const { evalshaBuffer, evalBuffer } = client;
  if (evalshaBuffer && evalBuffer) {
    recorded.evalshaBuffer = (sha, numKeys, ...args) => {
      commands.push('EVALSHA');
      return evalshaBuffer.call(client, sha, numKeys, ...args);
    };
    recorded.evalBuffer = (source, numKeys, ...args) => {
      commands.push('EVAL');
      return evalBuffer.call(client, source, numKeys, ...args);
    };
  }
  return { commands, client: recorded };
}

describe('redisStore', () => {
  it('uses EVALSHA, one round trip per operation, and serves a replay from a lost acquire', async () => {
    const { client, commands } = recording(ioredis);
    const store = track(redisStore({ client, prefix }));
    const response = { status: 200, headers: [], body: new Uint8Array([1]) };
    const exercise = async (): Promise<void> => {
      const record = newRecord();
      await store.acquire(record, record.createdAt);
      const loser = await store.acquire(newRecord(record.createdAt, { key: record.key }), record.createdAt);
      assert.equal(loser.acquired, false);
      await store.get(record.key, record.createdAt);
      await store.renew(record.key, record.token, record.leaseUntil + 1);
      assert.equal(await store.complete(record.key, record.token, response, record.expiresAt), true);
      const replay = await store.acquire(newRecord(record.createdAt, { key: record.key }), record.createdAt);
      assert.equal(replay.record.response?.status, 200, 'a lost acquire carries the stored response');
      const other = newRecord();
      await store.acquire(other, other.createdAt);
      await store.release(other.key, other.token);
    };
    await exercise(); // loads any script the server does not have yet
    commands.length = 0;
    await exercise();
    assert.deepEqual(commands, Array(8).fill('EVALSHA'));
  });

  it("calls the client's EVALSHA method as it is at call time (instrumentation may wrap it later)", async () => {
    const redis = new Redis(url);
    extraClients.push(redis);
    const client: RedisClient = redis;
    const store = track(redisStore({ client, prefix }));
    const original = client.evalshaBuffer?.bind(client);
    assert.ok(original, 'ioredis has evalshaBuffer');
    const calls: string[] = [];
    client.evalshaBuffer = (sha, numKeys, ...args) => {
      calls.push(sha);
      return original(sha, numKeys, ...args);
    };
    const record = newRecord();
    assert.equal((await store.acquire(record, record.createdAt)).acquired, true);
    assert.equal(calls.length, 1, 'the wrapped method saw the claim');
  });

  it('falls back to EVAL after SCRIPT FLUSH (NOSCRIPT), then uses EVALSHA again', async () => {
    if (!nodeRedis.isOpen) await nodeRedis.connect();
    for (const [name, base] of [
      ['ioredis', ioredis],
      ['node-redis', fromNodeRedis(nodeRedis)],
    ] as const) {
      const { client, commands } = recording(base);
      const store = track(redisStore({ client, prefix }));
      const record = newRecord();
      const response = { status: 201, headers: [], body: new Uint8Array() };
      const operations: Array<() => Promise<unknown>> = [
        async () => assert.equal((await store.acquire(record, record.createdAt)).acquired, true),
        async () => assert.equal((await store.get(record.key, record.createdAt))?.token, record.token),
        async () => assert.equal(await store.renew(record.key, record.token, record.leaseUntil + 1), true),
        async () =>
          assert.equal(await store.complete(record.key, record.token, response, record.expiresAt), true),
        async () => assert.equal(await store.release(record.key, record.token), false),
      ];
      for (const operation of operations) {
        await ioredis.script('FLUSH');
        commands.length = 0;
        await operation();
        assert.deepEqual(commands, ['EVALSHA', 'EVAL'], `${name}: NOSCRIPT must fall back to EVAL`);
        commands.length = 0;
      }
      await store.release(record.key, record.token);
      assert.deepEqual(commands, ['EVALSHA'], `${name}: after EVAL the script is called by SHA`);
    }
  });

  it('round-trips a 1 MiB body holding every byte value, through every client', async () => {
    if (!nodeRedis.isOpen) await nodeRedis.connect();
    const body = new Uint8Array(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) % 256;
    const headers: Array<[string, string]> = [
      ['x-a', 'ä ✓ 😀'],
      ['x-a', 'second'],
    ];
    for (const client of [ioredis, pipelining, fromNodeRedis(nodeRedis)]) {
      const store = track(redisStore({ client, prefix }));
      const record = newRecord();
      await store.acquire(record, record.createdAt);
      assert.equal(
        await store.complete(record.key, record.token, { status: 200, headers, body }, record.expiresAt),
        true,
      );
      const stored = await store.get(record.key, record.createdAt);
      assert.ok(stored?.response);
      assert.deepEqual(stored.response.headers, headers);
      assert.equal(
        Buffer.compare(Buffer.from(stored.response.body), Buffer.from(body)),
        0,
        'body bytes differ',
      );
    }
  });

  it('gives every key a Redis TTL of expiresAt - now, shifted along on complete', async () => {
    const now = Date.now();
    const record = newRecord(now, { expiresAt: now + 600_000 });
    const key = `${prefix}{${record.key}}`;
    await ioredisStore.acquire(record, now);
    const afterAcquire = await ioredis.pttl(key);
    assert.ok(afterAcquire > 590_000 && afterAcquire <= 600_000, `PTTL after acquire: ${afterAcquire}`);

    // The engine's clock may run far ahead of Redis's: the TTL still follows expiresAt - now.
    const farAhead = now + 10 * 86_400_000;
    const ahead = newRecord(farAhead, { expiresAt: farAhead + 300_000 });
    await ioredisStore.acquire(ahead, farAhead);
    const aheadTtl = await ioredis.pttl(`${prefix}{${ahead.key}}`);
    assert.ok(aheadTtl > 290_000 && aheadTtl <= 300_000, `PTTL with a clock far ahead: ${aheadTtl}`);

    const response = { status: 200, headers: [], body: new Uint8Array([7]) };
    assert.equal(
      await ioredisStore.complete(record.key, record.token, response, record.expiresAt + 60_000),
      true,
    );
    const afterComplete = await ioredis.pttl(key);
    assert.ok(afterComplete > 650_000 && afterComplete <= 660_000, `PTTL after complete: ${afterComplete}`);

    const takeover = newRecord(record.leaseUntil + 1, { key: ahead.key, fingerprint: ahead.fingerprint });
    const before = await ioredis.pttl(`${prefix}{${ahead.key}}`);
    assert.equal((await ioredisStore.acquire(takeover, ahead.leaseUntil + 1)).acquired, true);
    const afterTakeover = await ioredis.pttl(`${prefix}{${ahead.key}}`);
    assert.ok(before - afterTakeover < 5_000, 'a takeover leaves the TTL alone');
  });

  it('lets Redis physically delete a record once its TTL runs out', async () => {
    const now = Date.now();
    const record = newRecord(now, { leaseUntil: now + 50, expiresAt: now + 100 });
    await ioredisStore.acquire(record, now);
    assert.equal(await ioredis.exists(`${prefix}{${record.key}}`), 1);
    const deadline = Date.now() + 5_000;
    while ((await ioredis.exists(`${prefix}{${record.key}}`)) === 1) {
      assert.ok(Date.now() < deadline, 'the key outlived its TTL by 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(await ioredisStore.purgeExpired(Date.now()), 0, 'purgeExpired leaves the work to Redis');
  });

  it('lets exactly one of 100 acquires over 5 connections win', async () => {
    const connections = Array.from({ length: 5 }, () => new Redis(url));
    extraClients.push(...connections);
    const racers = connections.map((client) => track(redisStore({ client, prefix })));
    const now = Date.now();
    const key = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => racers[i % racers.length]!.acquire(newRecord(now, { key }), now)),
    );
    const winners = results.filter((result) => result.acquired);
    assert.equal(winners.length, 1);
    for (const result of results) assert.equal(result.record.token, winners[0]!.record.token);
  });

  it('wakes waiters on release and on takeover, and settles them on close', async () => {
    const store = redisStore({ client: ioredis, prefix });
    try {
      const record = newRecord();
      await store.acquire(record, record.createdAt);
      const released = store.watch!(record.key, new AbortController().signal);
      assert.equal(await settlesWithin(released, 50), false, 'a watch waits while the key is held');
      assert.equal(await store.release(record.key, record.token), true);
      assert.equal(await settlesWithin(released, 2000), true, 'release wakes the watch');

      await store.acquire(record, record.createdAt);
      const takenOver = store.watch!(record.key, new AbortController().signal);
      assert.equal(await settlesWithin(takenOver, 50), false, 'a watch waits while the key is held');
      const later = record.leaseUntil + 1;
      assert.equal((await store.acquire({ ...record, token: randomUUID() }, later)).acquired, true);
      assert.equal(await settlesWithin(takenOver, 2000), true, 'a takeover wakes the watch');

      const pending = store.watch!(randomUUID(), new AbortController().signal);
      assert.equal(await settlesWithin(pending, 50), false, 'nothing happens to this key');
      await store.close!();
      assert.equal(await settlesWithin(pending, 2000), true, 'close settles a pending watch');
    } finally {
      await store.close!();
    }
  });

  it('works under an ioredis keyPrefix with plain pub/sub, and refuses it with sharded pub/sub', async () => {
    const prefixed = new Redis(url, { keyPrefix: `${prefix}kp:` });
    extraClients.push(prefixed);
    assert.throws(() => redisStore({ client: prefixed, prefix, pubsub: 'sharded' }), /keyPrefix/);
    const store = track(redisStore({ client: prefixed, prefix: '' }));
    const record = newRecord();
    await store.acquire(record, record.createdAt);
    assert.equal(await ioredis.exists(`${prefix}kp:{${record.key}}`), 1);
    const signal = AbortSignal.timeout(5_000);
    const woken = store.watch!(record.key, signal).then(() => !signal.aborted);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await store.release(record.key, record.token), true);
    assert.equal(await woken, true, 'the waiter was not woken');
  });

  it('wakes waiters with sharded pub/sub on a single node too', async () => {
    const store = track(redisStore({ client: ioredis, prefix, pubsub: 'sharded' }));
    const record = newRecord();
    await store.acquire(record, record.createdAt);
    const signal = AbortSignal.timeout(5_000);
    const woken = store.watch!(record.key, signal).then(() => !signal.aborted);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const response = { status: 200, headers: [], body: new Uint8Array() };
    assert.equal(await store.complete(record.key, record.token, response, record.expiresAt), true);
    assert.equal(await woken, true, 'the waiter was not woken');
  });

  it('has no watch() with pubsub: false, and rejects a prefix that would move the hash tag', () => {
    assert.equal(redisStore({ client: ioredis, prefix, pubsub: false }).watch, undefined);
    assert.throws(() => redisStore({ client: ioredis, prefix: 'app{1}:' }), /prefix/);
  });
});
