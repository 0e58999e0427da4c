import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { NewRecord } from '../../core/store.js';
import { runStoreContract } from '../../testing/index.js';
import { type SqliteDatabase, type SqliteStatement, sqliteStore } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'idemkit-sqlite-'));
const open: Database.Database[] = [];

function openDatabase(name: string): Database.Database {
  const database = new Database(join(dir, name));
  open.push(database);
  return database;
}

function record(overrides: Partial<NewRecord> = {}): NewRecord {
  const createdAt = overrides.createdAt ?? Date.now();
  return {
    key: `sqlite-test:${randomUUID()}`,
    fingerprint: 'f'.repeat(64),
    token: randomUUID(),
    createdAt,
    leaseUntil: createdAt + 30_000,
    expiresAt: createdAt + 86_400_000,
    ...overrides,
  };
}

/** The database's objects, to compare what two ways of creating the schema produced. */
function objects(database: Database.Database): unknown[] {
  return database
    .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
    .all();
}

after(() => {
  for (const database of open) database.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sqliteStore', () => {
  const contractStore = (async () => {
    const store = sqliteStore({ database: openDatabase('contract.db') });
    await store.setup();
    return store;
  })();
  runStoreContract({
    name: 'sqlite (file)',
    createStore: () => contractStore,
    skip: { 'watch resolves when the record changes': 'SQLite cannot notify other processes; waiters poll' },
    describe,
    it,
  });

  describe('setup and schema', () => {
    it('setup() twice is harmless, and sets WAL', async () => {
      const database = openDatabase('twice.db');
      const store = sqliteStore({ database, table: 'twice' });
      await store.setup();
      const claim = record();
      await store.acquire(claim, claim.createdAt);
      await store.setup();
      assert.equal(
        (await store.get(claim.key, claim.createdAt))?.token,
        claim.token,
        'setup() keeps the rows',
      );
      assert.equal(database.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(database.pragma('busy_timeout', { simple: true }), 5000);
    });

    it('schema() is the DDL that setup() runs', async () => {
      const byHand = openDatabase('by-hand.db');
      byHand.exec(sqliteStore({ database: byHand }).schema());
      const bySetup = openDatabase('by-setup.db');
      await sqliteStore({ database: bySetup }).setup();
      assert.deepEqual(objects(byHand), objects(bySetup));
      assert.equal(objects(bySetup).length, 2, 'the table and its expires_at index');
    });

    it('rejects bad table names and options', () => {
      const database = openDatabase('names.db');
      for (const table of ['', 'a b', 'x;DROP TABLE y', '"quoted"', '1abc', 'main.records', 'naïve']) {
        assert.throws(() => sqliteStore({ database, table }), TypeError, table);
      }
      assert.throws(() => sqliteStore({ database, busyTimeout: -1 }), TypeError);
      assert.throws(() => sqliteStore({ database: {} as SqliteDatabase }), TypeError);
    });
  });

  describe('several connections on one file', () => {
    it('two connections racing 50 acquires: exactly one winner', async () => {
      const first = sqliteStore({ database: openDatabase('shared.db') });
      const second = sqliteStore({ database: openDatabase('shared.db') });
      await Promise.all([first.setup(), second.setup()]);
      const key = `race:${randomUUID()}`;
      const now = Date.now();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 ? first : second).acquire(record({ key, createdAt: now }), now),
        ),
      );
      const winners = results.filter((result) => result.acquired);
      assert.equal(winners.length, 1);
      for (const result of results) assert.equal(result.record.token, winners[0]!.record.token);
    });

    it('four processes racing for the same 1000 keys: exactly one winner per key', async () => {
      const file = join(dir, 'processes.db');
      const keys = Array.from({ length: 1000 }, () => `proc:${randomUUID()}`);
      const outcomes = await raceInProcesses(file, keys, 4);
      for (const key of keys) {
        const forKey = outcomes.map((outcome) => outcome[key]!);
        const winners = forKey.filter((outcome) => outcome.acquired);
        assert.equal(winners.length, 1, `${winners.length} processes won ${key}`);
        for (const outcome of forKey)
          assert.equal(outcome.owner, winners[0]!.owner, 'every loser saw the winner');
      }
    });
  });

  describe('purgeExpired', () => {
    it('deletes 2500 expired rows in batches of 1000 and keeps live rows', async () => {
      const database = openDatabase('purge.db');
      const { wrapped, runs, prepares } = counting(database);
      const store = sqliteStore({ database: wrapped });
      await store.setup();
      database.exec(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
        INSERT INTO idemkit_records (key, fingerprint, state, token, lease_until, expires_at, created_at)
        SELECT 'old:' || i, 'f', 'completed', 't', 0, 1000, 0 FROM n`);
      const live = record({ createdAt: 500 });
      await store.acquire(live, 500);
      assert.equal(await store.purgeExpired(1000), 2500);
      assert.deepEqual(database.prepare('SELECT key FROM idemkit_records').all(), [{ key: live.key }]);
      assert.equal(runs('DELETE'), 3, '1000 + 1000 + 500');
      assert.equal(await store.purgeExpired(1000), 0);

      const preparedSoFar = prepares();
      const claim = record();
      await store.acquire(claim, claim.createdAt);
      await store.renew(claim.key, claim.token, claim.leaseUntil + 1);
      await store.complete(
        claim.key,
        claim.token,
        { status: 200, headers: [], body: new Uint8Array() },
        claim.expiresAt,
      );
      await store.get(claim.key, claim.createdAt);
      assert.equal(prepares(), preparedSoFar, 'statements are prepared once, not per call');
    });

    it('uses the expires_at index', () => {
      const database = openDatabase('plan.db');
      database.exec(sqliteStore({ database }).schema());
      const plan = database
        .prepare('EXPLAIN QUERY PLAN SELECT rowid FROM idemkit_records WHERE expires_at <= 5 LIMIT 1000')
        .all() as Array<{ detail: string }>;
      assert.match(plan.map((step) => step.detail).join('\n'), /idemkit_records_expires_at_idx/);
    });
  });
});

/** Wraps a database to count prepare() calls and runs of statements by their first word. */
function counting(database: Database.Database) {
  let prepared = 0;
  const runCounts = new Map<string, number>();
  const wrapped: SqliteDatabase = {
    exec: (sql) => database.exec(sql),
    prepare(sql) {
      prepared++;
      const statement = database.prepare(sql);
      const verb = sql.trim().split(/\s/)[0]!;
      return {
        run(...params: unknown[]) {
          runCounts.set(verb, (runCounts.get(verb) ?? 0) + 1);
          return statement.run(...params);
        },
        get: (...params: unknown[]) => statement.get(...params),
      } satisfies SqliteStatement;
    },
  };
  return { wrapped, runs: (verb: string) => runCounts.get(verb) ?? 0, prepares: () => prepared };
}

interface Outcome {
  acquired: boolean;
  owner: string;
}

/**
 * Starts `count` node processes on `file`; once all are ready each tries to acquire every key, in
 * its own random order (so they collide all along, not only at the start), as fast as it can.
 * Returns each process's outcome per key.
 */
async function raceInProcesses(
  file: string,
  keys: string[],
  count: number,
): Promise<Array<Record<string, Outcome>>> {
  const script = join(dir, 'race.mjs');
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const storeModule = fileURLToPath(new URL('./index.ts', import.meta.url));
  writeFileSync(
    script,
    `
    import { randomUUID } from 'node:crypto';
    import { createInterface } from 'node:readline';
    import Database from ${JSON.stringify(driver)};
    import { sqliteStore } from ${JSON.stringify(storeModule)};

    const [file, keysJson] = process.argv.slice(2);
    const database = new Database(file);
    const store = sqliteStore({ database, busyTimeout: 30000 });
    await store.setup();
    const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    process.stdout.write('ready\\n');
    await lines.next();
    const keys = JSON.parse(keysJson);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [keys[i], keys[j]] = [keys[j], keys[i]];
    }
    const outcomes = {};
    for (const key of keys) {
      const now = Date.now();
      const claim = { key, fingerprint: 'f', token: randomUUID(), createdAt: now, leaseUntil: now + 30000, expiresAt: now + 86400000 };
      const result = await store.acquire(claim, now);
      outcomes[key] = { acquired: result.acquired, owner: result.record.token };
    }
    database.close();
    process.stdout.write(JSON.stringify(outcomes) + '\\n');
    process.exit(0);
    `,
  );
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--import', 'tsx', script, file, JSON.stringify(keys)], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const outputs = children.map((child) => {
    let text = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: string) => {
        text += chunk;
        if (text.startsWith('ready\n')) resolve();
      });
    });
    const exited = new Promise<string>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`race process exited with ${code}`)),
      );
    });
    // A process that dies before it is ready must fail the test, not hang it.
    return {
      ready: Promise.race([ready, exited.then(() => Promise.reject(new Error('exited early')))]),
      exited,
    };
  });
  await Promise.all(outputs.map((output) => output.ready));
  for (const child of children) child.stdin.end('go\n');
  const texts = await Promise.all(outputs.map((output) => output.exited));
  return texts.map((text) => JSON.parse(text.slice('ready\n'.length)) as Record<string, Outcome>);
}
