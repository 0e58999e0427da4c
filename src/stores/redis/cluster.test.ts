import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { type RedisCluster, startRedisCluster, waitFor } from '../../../test/helpers/redis-cluster.js';
import type { IdempotencyStore, NewRecord } from '../../core/store.js';
import { runStoreContract } from '../../testing/index.js';
import { fromNodeRedis, redisStore } from './index.js';

// A throwaway 3-master Redis Cluster on loopback, started and stopped by this file.
const host = '127.0.0.1';
const prefix = `idemkit-test:${randomUUID()}:`;
const purgeCase = 'purgeExpired physically deletes expired records and keeps live ones';
const purgeSkip =
  'Redis deletes expired keys by its own TTL (see index.test.ts), not at an engine clock set ahead';

/** The store contract, minus the purge case: Redis deletes expired keys by its own TTL. */
function redisContract(name: string, createStore: () => IdempotencyStore | Promise<IdempotencyStore>): void {
  runStoreContract({ name, createStore, skip: { [purgeCase]: purgeSkip }, describe, it });
}

let testCluster: RedisCluster | undefined;
let ports: number[] = [];
let cluster: Cluster | undefined;
let store: IdempotencyStore | undefined;
let nodeRedisCluster: ReturnType<typeof createCluster> | undefined;
let nodeRedisStore: IdempotencyStore | undefined;
let pipelining: Cluster | undefined;
let pipeliningStore: IdempotencyStore | undefined;

async function startCluster(): Promise<void> {
  testCluster = await startRedisCluster(17101);
  ports = testCluster.ports;
  cluster = new Cluster(
    ports.map((port) => ({ host, port })),
    { redisOptions: { connectTimeout: 5_000 } },
  );
  await waitFor('ioredis Cluster did not get ready', 10_000, async () => {
    await cluster!.ping();
    return cluster!.status === 'ready';
  });
}

async function stopCluster(): Promise<void> {
  await store?.close?.();
  await nodeRedisStore?.close?.();
  await pipeliningStore?.close?.();
  pipelining?.disconnect();
  cluster?.disconnect();
  nodeRedisCluster?.destroy();
  await testCluster?.stop();
}

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

async function pipeliningClusterStore(): Promise<IdempotencyStore> {
  if (!pipelining) {
    pipelining = new Cluster(
      ports.map((port) => ({ host, port })),
      { enableAutoPipelining: true, redisOptions: { connectTimeout: 5_000 } },
    );
    await pipelining.ping();
  }
  pipeliningStore ??= redisStore({ client: pipelining, prefix });
  return pipeliningStore;
}

function clusterStore(): IdempotencyStore {
  assert.ok(cluster, 'the test cluster is not running');
  store ??= redisStore({ client: cluster, prefix });
  return store;
}

describe('redisStore on a Redis Cluster', () => {
  before(startCluster, { timeout: 90_000 });
  after(stopCluster, { timeout: 30_000 });

  redisContract('redis cluster (ioredis, sharded pub/sub)', clusterStore);

  redisContract('redis cluster (node-redis createCluster via fromNodeRedis, sharded pub/sub)', async () => {
    if (!nodeRedisCluster) {
      nodeRedisCluster = createCluster({
        rootNodes: ports.map((port) => ({ url: `redis://${host}:${port}` })),
      });
      nodeRedisCluster.on('error', () => undefined);
      await nodeRedisCluster.connect();
    }
    nodeRedisStore ??= redisStore({ client: fromNodeRedis(nodeRedisCluster), prefix });
    return nodeRedisStore;
  });

  redisContract('redis cluster (ioredis with enableAutoPipelining, sharded pub/sub)', pipeliningClusterStore);

  it('claims keys of every node at once through an auto-pipelining cluster client', async () => {
    // Concurrent requests issue their claims in one turn of the event loop, so auto-pipelining
    // gathers them: keys held by different nodes must still each reach their own node.
    const store = await pipeliningClusterStore();
    for (const scripts of ['cached', 'flushed']) {
      // The second burst finds no script on any node: each call falls back from EVALSHA to EVAL.
      if (scripts === 'flushed') for (const node of cluster!.nodes('master')) await node.script('FLUSH');
      const records = Array.from({ length: 60 }, () => newRecord());
      const results = await Promise.allSettled(
        records.map((record) => store.acquire(record, record.createdAt)),
      );
      const failures = results.flatMap((result) =>
        result.status === 'rejected' ? [String(result.reason)] : [],
      );
      assert.deepEqual(failures, [], `${failures.length} of 60 claims failed (scripts ${scripts})`);
      for (const result of results)
        assert.equal(result.status === 'fulfilled' && result.value.acquired, true);
      const held = await Promise.all(records.map((record) => store.get(record.key, record.createdAt)));
      assert.deepEqual(
        held.map((record) => record?.token),
        records.map((record) => record.token),
      );
    }
  });

  it('spreads records over the slots and nodes of the cluster', async () => {
    const ownPrefix = `${prefix}spread:`;
    const spread = redisStore({ client: cluster!, prefix: ownPrefix, pubsub: false });
    const records = Array.from({ length: 60 }, () => newRecord());
    for (const record of records)
      assert.equal((await spread.acquire(record, record.createdAt)).acquired, true);
    const slots = new Set<number>();
    const perNode = new Map<string, number>();
    for (const node of cluster!.nodes('master')) {
      // SCAN on one node lists only the keys that node holds.
      const held: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${ownPrefix}*`, 'COUNT', 1000);
        held.push(...keys);
        cursor = next;
      } while (cursor !== '0');
      perNode.set(`${node.options.host}:${node.options.port}`, held.length);
      for (const key of held) slots.add(Number(await node.call('CLUSTER', 'KEYSLOT', key)));
    }
    const counts = [...perNode.values()];
    assert.equal(counts.length, 3);
    assert.ok(
      counts.every((count) => count > 0),
      `every master holds records: ${JSON.stringify([...perNode])}`,
    );
    assert.equal(
      counts.reduce((sum, count) => sum + count, 0),
      records.length,
      'each record is one key on one node',
    );
    assert.ok(slots.size > 50, `records landed on only ${slots.size} slots`);
  });

  it('falls back to EVAL when a node lost its scripts', async () => {
    for (const node of cluster!.nodes('master')) await node.script('FLUSH');
    const record = newRecord();
    assert.equal((await clusterStore().acquire(record, record.createdAt)).acquired, true);
    assert.equal((await clusterStore().get(record.key, record.createdAt))?.token, record.token);
  });

  it('wakes waiters with plain pub/sub too', async () => {
    const plain = redisStore({ client: cluster!, prefix, pubsub: 'plain' });
    try {
      const records = Array.from({ length: 6 }, () => newRecord());
      for (const record of records) await plain.acquire(record, record.createdAt);
      const woken = records.map((record) => {
        const signal = AbortSignal.timeout(5_000);
        return plain.watch!(record.key, signal).then(() => !signal.aborted);
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const record of records) assert.equal(await plain.release(record.key, record.token), true);
      assert.deepEqual(await Promise.all(woken), Array(records.length).fill(true), 'a waiter timed out');
    } finally {
      await plain.close!();
    }
  });

  it('lets exactly one of 100 acquires over 3 cluster connections win', async () => {
    const connections = Array.from({ length: 3 }, () => cluster!.duplicate());
    try {
      const racers = connections.map((client) => redisStore({ client, prefix, pubsub: false }));
      const now = Date.now();
      const key = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          racers[i % racers.length]!.acquire(newRecord(now, { key }), now),
        ),
      );
      assert.equal(results.filter((result) => result.acquired).length, 1);
    } finally {
      for (const connection of connections) connection.disconnect();
    }
  });
});
