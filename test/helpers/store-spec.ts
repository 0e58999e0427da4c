import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { IdempotencyStore } from '../../src/index.js';
import { mysqlStore } from '../../src/stores/mysql/index.js';
import { postgresStore } from '../../src/stores/postgres/index.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';

/** A store that tests (and their child processes) can describe in JSON and open anywhere. */
export type StoreSpec =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; table: string }
  | { kind: 'redis'; prefix: string; cluster?: number[] }
  | { kind: 'mysql'; table: string };

export interface OpenedStore {
  store: IdempotencyStore;
  close(): Promise<void>;
}

export const postgresUrl = 'postgres://postgres@127.0.0.1:5432/test';
export const mysqlConfig = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };

/** Open the store a spec describes, creating its table if it has one. */
export async function openStore(spec: StoreSpec): Promise<OpenedStore> {
  switch (spec.kind) {
    case 'sqlite': {
      const database = new Database(spec.file);
      const store = sqliteStore({ database });
      await store.setup();
      return {
        store,
        close: async () => {
          database.close();
        },
      };
    }
    case 'postgres': {
      const pool = new pg.Pool({ connectionString: postgresUrl, max: 10 });
      pool.on('error', () => undefined);
      const store = postgresStore({ pool, table: spec.table });
      await store.setup();
      return {
        store,
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    }
    case 'redis': {
      const client = spec.cluster
        ? new Redis.Cluster(spec.cluster.map((port) => ({ host: '127.0.0.1', port })))
        : new Redis({ host: '127.0.0.1', port: 6379 });
      const store = redisStore({ client, prefix: spec.prefix });
      return {
        store,
        close: async () => {
          await store.close?.();
          client.disconnect();
        },
      };
    }
    case 'mysql': {
      const pool = mysql.createPool({ ...mysqlConfig, connectionLimit: 10 });
      const store = mysqlStore({ pool, table: spec.table });
      await store.setup();
      return { store, close: () => pool.end() };
    }
  }
}
