import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import type { NewRecord } from '../../core/store.js';
import { runStoreContract } from '../../testing/index.js';
import { type MysqlQueryable, mysqlStore } from './index.js';

const connection = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' };
// One table per run (and per variant below), so parallel runs never collide; all dropped after.
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const tables: string[] = [];
const pool = mysql.createPool({ ...connection, connectionLimit: 20 });
// Without CLIENT_FOUND_ROWS (mysql2 sets it by default), affectedRows counts changed rows only.
const changedRowsPool = mysql.createPool({ ...connection, connectionLimit: 5, flags: ['-FOUND_ROWS'] });

function tableName(purpose: string): string {
  const name = `idemkit_test_${run}_${purpose}`;
  tables.push(name);
  return name;
}

after(async () => {
  for (const table of tables) await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
  await pool.end();
  await changedRowsPool.end();
});

const contractStore = mysqlStore({ pool, table: tableName('contract') });
const ready = contractStore.setup();
runStoreContract({
  name: 'mysql (MariaDB, mysql2 pool)',
  createStore: async () => {
    await ready;
    return contractStore;
  },
  skip: { 'watch resolves when the record changes': 'no notifications in MySQL: the engine polls' },
  describe,
  it,
});

const changedRowsStore = mysqlStore({ pool: changedRowsPool, table: tableName('changed_rows') });
const changedRowsReady = changedRowsStore.setup();
runStoreContract({
  name: 'mysql (MariaDB, pool without FOUND_ROWS)',
  createStore: async () => {
    await changedRowsReady;
    return changedRowsStore;
  },
  skip: { 'watch resolves when the record changes': 'no notifications in MySQL: the engine polls' },
  describe,
  it,
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

/** A pool that records the statements it runs, to count round trips. */
function recording(inner: MysqlQueryable): { pool: MysqlQueryable; statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    pool: {
      query(sql, values) {
        statements.push(sql.split(/\s/, 1)[0]!);
        return inner.query(sql, values);
      },
    },
  };
}

describe('mysqlStore', () => {
  it('runs setup() twice, and concurrently, without error', async () => {
    const store = mysqlStore({ pool, table: tableName('setup') });
    await store.setup();
    await store.setup();
    await Promise.all(Array.from({ length: 8 }, () => store.setup()));
    const other = mysqlStore({ pool, table: tableName('setup_race') });
    await Promise.all(Array.from({ length: 8 }, () => other.setup()));
    const record = newRecord();
    assert.equal((await other.acquire(record, record.createdAt)).acquired, true);
    assert.match(store.schema(), /^CREATE TABLE IF NOT EXISTS `idemkit_test_\w+_setup` \(/);
  });

  it('takes one round trip for a won claim and for every other operation, two for a lost claim', async () => {
    await ready;
    const { pool: counted, statements } = recording(pool);
    const store = mysqlStore({ pool: counted, table: tables[0] });
    const record = newRecord();
    await store.acquire(record, record.createdAt);
    assert.deepEqual(statements.splice(0), ['INSERT']);
    await store.renew(record.key, record.token, record.leaseUntil);
    await store.get(record.key, record.createdAt);
    const response = { status: 201, headers: [], body: new Uint8Array([1, 2]) };
    await store.complete(record.key, record.token, response, record.expiresAt);
    assert.deepEqual(statements.splice(0), ['UPDATE', 'SELECT', 'UPDATE']);
    const replay = await store.acquire(newRecord(record.createdAt, { key: record.key }), record.createdAt);
    assert.equal(replay.acquired, false);
    assert.equal(replay.record.response?.status, 201, 'a lost claim carries the stored response');
    assert.deepEqual(statements.splice(0), ['INSERT', 'SELECT']);
    const other = newRecord();
    await store.acquire(other, other.createdAt);
    await store.release(other.key, other.token);
    assert.deepEqual(statements.splice(0), ['INSERT', 'DELETE']);
  });

  it('renews to the same leaseUntil and still reports ownership, with or without FOUND_ROWS', async () => {
    await Promise.all([ready, changedRowsReady]);
    for (const store of [contractStore, changedRowsStore]) {
      const record = newRecord();
      await store.acquire(record, record.createdAt);
      assert.equal(await store.renew(record.key, record.token, record.leaseUntil), true);
      assert.equal(await store.renew(record.key, randomUUID(), record.leaseUntil), false);
    }
  });

  it('lets exactly one of 100 racers over a 20-connection pool win, and every loser sees the winner', async () => {
    await ready;
    const now = Date.now();
    const key = randomUUID().replaceAll('-', '');
    const results = await Promise.all(
      Array.from({ length: 100 }, () => contractStore.acquire(newRecord(now, { key }), now)),
    );
    const winners = results.filter((result) => result.acquired);
    assert.equal(winners.length, 1);
    for (const result of results) assert.equal(result.record.token, winners[0]!.record.token);

    // And 100 racers taking over one lapsed lease.
    const later = winners[0]!.record.leaseUntil + 1;
    const takeovers = await Promise.all(
      Array.from({ length: 100 }, () =>
        contractStore.acquire(newRecord(later, { key, fingerprint: winners[0]!.record.fingerprint }), later),
      ),
    );
    assert.equal(takeovers.filter((result) => result.acquired).length, 1);
  });

  it('purges in batches of 1000 and keeps live rows', async () => {
    const table = tableName('purge');
    const store = mysqlStore({ pool, table });
    await store.setup();
    const now = Date.now();
    const rows = Array.from({ length: 2500 }, (_, i) => [
      `expired${i}`,
      'f',
      'in-flight',
      't',
      now,
      now + 10,
      now,
    ]);
    rows.push(['live', 'f', 'in-flight', 't', now, now + 86_400_000, now]);
    await pool.query(
      `INSERT INTO \`${table}\` (\`key\`, fingerprint, state, token, lease_until, expires_at, created_at) VALUES ?`,
      [rows],
    );
    const { pool: counted, statements } = recording(pool);
    assert.equal(await mysqlStore({ pool: counted, table }).purgeExpired(now + 20), 2500);
    assert.deepEqual(statements, ['DELETE', 'DELETE', 'DELETE']);
    const [left] = (await pool.query(`SELECT \`key\` FROM \`${table}\``)) as [
      Array<{ key: string }>,
      unknown,
    ];
    assert.deepEqual(
      left.map((row) => row.key),
      ['live'],
    );
    assert.equal(await store.purgeExpired(now + 20), 0);
  });

  it('round-trips a 1 MiB body holding every byte value and non-ASCII headers', async () => {
    await ready;
    const body = new Uint8Array(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) % 256;
    const headers: Array<[string, string]> = [
      ['x-a', 'ä ✓ 😀 \u2028'],
      ['x-a', 'second'],
    ];
    const record = newRecord();
    await contractStore.acquire(record, record.createdAt);
    assert.equal(
      await contractStore.complete(
        record.key,
        record.token,
        { status: 200, headers, body },
        record.expiresAt,
      ),
      true,
    );
    const stored = await contractStore.get(record.key, record.createdAt);
    assert.ok(stored?.response);
    assert.deepEqual(stored.response.headers, headers);
    assert.equal(
      Buffer.compare(Buffer.from(stored.response.body), Buffer.from(body)),
      0,
      'body bytes differ',
    );
  });

  it('runs a statement again when InnoDB picks it as a deadlock victim', async () => {
    await ready;
    let failures = 1;
    const flaky: MysqlQueryable = {
      query(sql, values) {
        if (failures > 0 && sql.startsWith('INSERT')) {
          failures--;
          return Promise.reject(Object.assign(new Error('Deadlock found'), { errno: 1213 }));
        }
        return pool.query(sql, values) as Promise<[unknown, unknown]>;
      },
    };
    const store = mysqlStore({ pool: flaky, table: tables[0] });
    const record = newRecord();
    assert.equal((await store.acquire(record, record.createdAt)).acquired, true);
    assert.equal(failures, 0);
    const broken: MysqlQueryable = {
      query: () => Promise.reject(Object.assign(new Error('gone'), { errno: 2013 })),
    };
    await assert.rejects(
      async () => mysqlStore({ pool: broken, table: tables[0] }).acquire(newRecord(), Date.now()),
      /gone/,
    );
  });

  it('validates table names and keys', async () => {
    for (const table of ['', 'a-b', '1abc', 'a.b.c', 'x`; DROP TABLE y', 'a'.repeat(65), 'ok.'] as const) {
      assert.throws(() => mysqlStore({ pool, table }), /table must be/, table);
    }
    assert.doesNotThrow(() => mysqlStore({ pool, table: 'test.idemkit_records' }));
    assert.doesNotThrow(() => mysqlStore({ pool, table: 'a'.repeat(64) }));
    assert.throws(() => mysqlStore({ pool: {} as MysqlQueryable }), /pool/);
    await assert.rejects(async () => contractStore.get('k'.repeat(192), Date.now()), /key/);
    await assert.rejects(async () => contractStore.get('clé', Date.now()), /key/);
  });

  it('works with a database-qualified table name', async () => {
    const table = tableName('qualified');
    const store = mysqlStore({ pool, table: `test.${table}` });
    await store.setup();
    const record = newRecord();
    assert.equal((await store.acquire(record, record.createdAt)).acquired, true);
    assert.equal((await store.get(record.key, record.createdAt))?.token, record.token);
  });
});
