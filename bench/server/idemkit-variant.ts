import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { idempotency } from '../../src/adapters/express/index.js';
import type { IdempotencyStore } from '../../src/core/store.js';
import { createIdempotency } from '../../src/index.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import { postgresStore } from '../../src/stores/postgres/index.js';
import { type RedisClient, redisStore } from '../../src/stores/redis/index.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import { countCalls, countingStore } from './counting-store.js';
import type { Variant } from './variant.js';

export type IdemkitStoreKind = 'memory' | 'sqlite' | 'postgres' | 'redis';

interface BuiltStore {
  store: IdempotencyStore;
  /** Queries / commands sent to the database, when the store talks to one over the network. */
  roundTrips: { count: number } | null;
  /** Drop what this run created (table, keys, file) and close connections. */
  dispose(): Promise<void>;
}

/**
 * idemkit as its README wires it: `createIdempotency({ store })` with default options and the
 * Express adapter on the route. The store is wrapped so its calls are counted.
 */
export async function idemkitVariant(kind: IdemkitStoreKind): Promise<Variant> {
  const built = await buildStore(kind);
  const counted = countingStore(built.store);
  const engine = createIdempotency({ store: counted.store });
  return {
    middleware: [idempotency(engine)],
    storeCalls: () => ({ ...counted.counts }),
    driverRoundTrips: () => built.roundTrips?.count ?? null,
    resetCounters() {
      counted.reset();
      if (built.roundTrips) built.roundTrips.count = 0;
    },
    async close() {
      await counted.store.close?.();
      await built.dispose();
    },
  };
}

/** A name no other run (or parallel test) uses. */
function runSuffix(): string {
  return `${process.pid}_${randomBytes(4).toString('hex')}`;
}

async function buildStore(kind: IdemkitStoreKind): Promise<BuiltStore> {
  switch (kind) {
    case 'memory':
      return { store: memoryStore(), roundTrips: null, dispose: async () => undefined };
    case 'sqlite': {
      const file = join(tmpdir(), `idemkit-bench-${runSuffix()}.db`);
      const database = new Database(file);
      const store = sqliteStore({ database });
      await store.setup();
      return {
        store,
        roundTrips: null,
        async dispose() {
          database.close();
          for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
        },
      };
    }
    case 'postgres': {
      const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
      const table = `idemkit_bench_${runSuffix()}`;
      const store = postgresStore({ pool, table });
      await store.setup();
      const roundTrips = countCalls(pool, 'query');
      return {
        store,
        roundTrips,
        async dispose() {
          await store.close();
          await pool.query(`DROP TABLE IF EXISTS "${table}"`);
          await pool.end();
        },
      };
    }
    case 'redis': {
      // Auto-pipelining, as a production ioredis client is often set up: the commands of
      // concurrent requests share writes (findings item 28).
      const client = new Redis({
        host: '127.0.0.1',
        port: 6379,
        lazyConnect: true,
        enableAutoPipelining: true,
      });
      await client.connect();
      const prefix = `idemkit-bench:${runSuffix()}:`;
      const store = redisStore({ client, prefix });
      // The store sends EVALSHA/EVAL through these (the RedisClient type names them; ioredis's does not).
      const roundTrips = countCalls<RedisClient>(client, 'evalshaBuffer', 'evalBuffer');
      return {
        store,
        roundTrips,
        async dispose() {
          await store.close?.();
          await deleteKeys(client, `${prefix}*`);
          client.disconnect();
        },
      };
    }
  }
}

async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}
