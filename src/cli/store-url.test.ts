import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { deleteRedisPrefix, dropPostgresTables, uniqueName } from '../../test/cli/cleanup.js';
import { mysqlConfig, postgresUrl } from '../../test/helpers/store-spec.js';
import { UsageError } from './cli-error.js';
import { openStore, parseStoreUrl, schemaOf } from './store-url.js';

describe('parseStoreUrl', () => {
  it('reads every scheme and takes out table= and prefix=', () => {
    assert.deepEqual(parseStoreUrl('memory:'), { kind: 'memory', display: 'memory:' });
    for (const [url, file] of [
      ['sqlite:./rel.db', './rel.db'],
      ['sqlite:/abs/file.db', '/abs/file.db'],
      ['sqlite:///abs/file.db', '/abs/file.db'],
      ['sqlite:rel.db?table=records', 'rel.db'],
    ] as const) {
      const parsed = parseStoreUrl(url);
      assert.equal(parsed.kind, 'sqlite');
      assert.equal((parsed as { file: string }).file, file, url);
    }
    assert.equal((parseStoreUrl('sqlite:rel.db?table=records') as { table?: string }).table, 'records');
    const pg = parseStoreUrl('postgresql://user:pw@db.internal:5433/app?sslmode=require&table=billing.keys');
    assert.deepEqual(pg, {
      kind: 'postgres',
      connectionString: 'postgresql://user:pw@db.internal:5433/app?sslmode=require',
      display: 'postgresql://user:***@db.internal:5433/app?sslmode=require',
      table: 'billing.keys',
    });
    assert.deepEqual(parseStoreUrl('postgres://db/app?prepare=false&table=keys'), {
      kind: 'postgres',
      connectionString: 'postgres://db/app',
      display: 'postgres://db/app',
      table: 'keys',
      prepare: false,
    });
    const redis = parseStoreUrl('rediss://:pw@cache:6380/2?prefix=app%3A');
    assert.equal(redis.kind, 'redis');
    assert.equal((redis as { prefix?: string }).prefix, 'app:');
    assert.equal((redis as { url: string }).url, 'rediss://:pw@cache:6380/2');
    assert.equal(parseStoreUrl('mysql://root@127.0.0.1:3306/test').kind, 'mysql');
  });

  it('rejects what it cannot open with a UsageError', () => {
    for (const url of [
      'nonsense',
      'ftp://x',
      'sqlite:',
      'sqlite:x.db?prefix=a',
      'postgres://',
      'postgres://h/db?table=a;b',
      'postgres://h/db?prepare=no',
      'redis://h?prefix={x}',
      ':memory:',
    ]) {
      assert.throws(() => parseStoreUrl(url), UsageError, url);
    }
  });

  it('gives the DDL of SQL stores without connecting, and none for the others', () => {
    assert.match(schemaOf(parseStoreUrl('sqlite:x.db?table=keys'))!, /CREATE TABLE IF NOT EXISTS "keys"/);
    assert.match(schemaOf(parseStoreUrl('postgres://h/db'))!, /bytea/);
    assert.match(schemaOf(parseStoreUrl('mysql://h/db'))!, /ENGINE=InnoDB/);
    assert.equal(schemaOf(parseStoreUrl('redis://h')), undefined);
    assert.equal(schemaOf(parseStoreUrl('memory:')), undefined);
  });
});

describe('openStore, against the real servers', () => {
  const temp = mkdtempSync(join(tmpdir(), 'idemkit-store-url-'));
  const pgTable = uniqueName('open');
  const mysqlTable = uniqueName('open');
  const prefix = `${uniqueName('open')}:`;
  after(async () => {
    rmSync(temp, { recursive: true, force: true });
    await dropPostgresTables([pgTable]);
    await deleteRedisPrefix(prefix);
    const pool = mysql.createPool(mysqlConfig);
    await pool.query(`DROP TABLE IF EXISTS \`${mysqlTable}\``);
    await pool.end();
  });

  const urls = () => [
    `sqlite:${join(temp, 'open.db')}`,
    `${postgresUrl}?table=${pgTable}`,
    // Unnamed statements, for poolers that do not keep prepared ones across transactions.
    `${postgresUrl}?table=${pgTable}&prepare=false`,
    `redis://127.0.0.1:6379?prefix=${encodeURIComponent(prefix)}`,
    `mysql://root@127.0.0.1:3306/test?table=${mysqlTable}`,
  ];

  for (const url of urls()) {
    it(`opens, sets up, round-trips a record and closes: ${url.split(':')[0]}${url.includes('prepare=false') ? ' (prepare=false)' : ''}`, async () => {
      const opened = await openStore(parseStoreUrl(url));
      try {
        await opened.setup?.();
        await opened.setup?.(); // safe to repeat
        const now = Date.now();
        const key = randomUUID().replaceAll('-', '');
        const claim = await opened.store.acquire(
          {
            key,
            fingerprint: 'f',
            token: 't',
            createdAt: now,
            leaseUntil: now + 1_000,
            expiresAt: now + 60_000,
          },
          now,
        );
        assert.equal(claim.acquired, true);
        assert.equal(
          await opened.store.complete(
            key,
            't',
            { status: 201, headers: [['x', 'y']], body: Buffer.from([0, 255]) },
            now + 60_000,
          ),
          true,
        );
        const record = await opened.store.get(key, now);
        assert.equal(record?.state, 'completed');
        assert.deepEqual([...record!.response!.body], [0, 255]);
      } finally {
        await opened.close();
      }
    });
  }

  it('does not create a SQLite file when asked to open an existing one', async () => {
    await assert.rejects(
      openStore(parseStoreUrl(`sqlite:${join(temp, 'absent.db')}`), { create: false }),
      /cannot open the SQLite file/,
    );
  });
});
