// Exactly once across processes: 4 server processes share one store; 500 keys × 20 simultaneous
// identical requests are spread across them; every key must run exactly once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { duplicateStorm } from './helpers/load.js';
import { startRedisCluster } from './helpers/redis-cluster.js';
import { mysqlConfig, postgresUrl, type StoreSpec } from './helpers/store-spec.js';
import { startWorkers } from './helpers/workers.js';

const keys = 500;
const duplicates = 20;
const processes = 4;
const suffix = randomBytes(4).toString('hex');

async function exactlyOnce(spec: StoreSpec): Promise<void> {
  const workers = await startWorkers(spec, processes);
  try {
    await duplicateStorm(workers.urls, { keys, duplicates });
    assert.equal(await workers.executions(), keys, `handler executions across ${processes} processes`);
  } finally {
    await workers.stop();
  }
}

describe(`exactly once across ${processes} processes (${keys} keys × ${duplicates} duplicates)`, {
  concurrency: 1,
}, () => {
  it('sqlite (one file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idemkit-xproc-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    await exactlyOnce({ kind: 'sqlite', file: join(dir, 'idempotency.db') });
  });

  it('postgres', async () => {
    const table = `idemkit_xproc_${suffix}`;
    after(async () => {
      const client = new pg.Client(postgresUrl);
      await client.connect();
      await client.query(`DROP TABLE IF EXISTS ${table}`);
      await client.end();
    });
    await exactlyOnce({ kind: 'postgres', table });
  });

  it('redis', async () => {
    const prefix = `idemkit:xproc:${suffix}:`;
    after(async () => {
      const redis = new Redis({ host: '127.0.0.1', port: 6379 });
      const found = await redis.keys(`${prefix}*`);
      if (found.length > 0) await redis.del(...found);
      redis.disconnect();
    });
    await exactlyOnce({ kind: 'redis', prefix });
  });

  it('redis cluster (3 masters, started by this test)', async () => {
    const cluster = await startRedisCluster(17501);
    after(() => cluster.stop());
    await exactlyOnce({ kind: 'redis', prefix: `idemkit:xproc:${suffix}:`, cluster: cluster.ports });
  });

  it('mariadb', async () => {
    const table = `idemkit_xproc_${suffix}`;
    after(async () => {
      const connection = await mysql.createConnection(mysqlConfig);
      await connection.query(`DROP TABLE IF EXISTS ${table}`);
      await connection.end();
    });
    await exactlyOnce({ kind: 'mysql', table });
  });
});
