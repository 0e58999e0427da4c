import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { settlesWithin } from '../../../test/helpers/settles.js';
import type { NewRecord } from '../../core/store.js';
import { runStoreContract } from '../../testing/index.js';
import { type PostgresQueryable, type PostgresStore, postgresStore } from './index.js';

const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const run = randomUUID().slice(0, 8);
const tables: string[] = [];
const pools: pg.Pool[] = [];
const stores: PostgresStore[] = [];

function tableName(purpose: string): string {
  const table = `idemkit_test_${purpose}_${tables.length}_${run}`;
  tables.push(table);
  return table;
}

function newPool(max = 10): pg.Pool {
  const pool = new pg.Pool({ ...connection, max });
  pools.push(pool);
  return pool;
}

async function readyStore(
  pool: pg.Pool | pg.Client,
  table: string,
  notify?: boolean,
): Promise<PostgresStore> {
  const store = postgresStore({ pool, table, ...(notify === undefined ? {} : { notify }) });
  stores.push(store);
  await store.setup();
  return store;
}

function record(overrides: Partial<NewRecord> = {}): NewRecord {
  const createdAt = overrides.createdAt ?? Date.now();
  return {
    key: `pg-test:${randomUUID()}`,
    fingerprint: 'f'.repeat(64),
    token: randomUUID(),
    createdAt,
    leaseUntil: createdAt + 30_000,
    expiresAt: createdAt + 86_400_000,
    ...overrides,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const admin = newPool(4);
const client = new pg.Client(connection);

after(async () => {
  for (const store of stores) await store.close();
  for (const table of tables) await admin.query(`DROP TABLE IF EXISTS ${table}`);
  await admin.query(`DROP SCHEMA IF EXISTS idemkit_test_schema_${run} CASCADE`);
  await client.end();
  for (const pool of pools) await pool.end();
});

describe('postgresStore', () => {
  const contractPool = newPool(20);
  const contractStore = readyStore(contractPool, tableName('contract'));
  runStoreContract({
    name: 'postgres (Pool, LISTEN/NOTIFY)',
    createStore: () => contractStore,
    describe,
    it,
  });

  const clientStore = (async () => {
    await client.connect();
    return readyStore(client, tableName('client'));
  })();
  runStoreContract({
    name: 'postgres (single Client)',
    createStore: () => clientStore,
    skip: {
      'watch resolves when the record changes': 'a single Client cannot lend a connection to LISTEN on',
    },
    describe,
    it,
  });

  const quietStore = readyStore(newPool(20), tableName('quiet'), false);
  runStoreContract({
    name: 'postgres (notify: false)',
    createStore: () => quietStore,
    skip: { 'watch resolves when the record changes': 'notify: false means the engine polls' },
    describe,
    it,
  });

  describe('setup and schema', () => {
    it('runs setup() concurrently from several stores, and again, without error', async () => {
      const table = tableName('setup');
      const pool = newPool(5);
      const many = Array.from({ length: 5 }, () => postgresStore({ pool, table }));
      await Promise.all(many.map((store) => store.setup()));
      await many[0]!.setup();
      const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = $1', [
        table,
      ]);
      assert.equal(rows[0].n, 2, 'primary key and expires_at index');
    });

    it('schema() is the DDL, runnable on its own and idempotent', async () => {
      const table = tableName('schema');
      const store = postgresStore({ pool: admin, table });
      const ddl = store.schema();
      assert.match(ddl, /CREATE TABLE IF NOT EXISTS/);
      assert.match(ddl, /CREATE INDEX IF NOT EXISTS .* \(expires_at\)/);
      await admin.query(ddl);
      await admin.query(ddl);
      await store.setup();
      assert.equal((await store.acquire(record(), Date.now())).acquired, true);
    });

    it('setup() adds the watched column to a table created before it existed', async () => {
      const table = tableName('upgrade');
      const columns = (await postgresStore({ pool: admin, table }).schema())
        .split('\n')
        .filter((line) => !/watched/.test(line))
        .join('\n')
        .replace(/body bytea,/, 'body bytea');
      await admin.query(columns);
      const before = await admin.query(
        'SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2',
        [table, 'watched'],
      );
      assert.equal(before.rowCount, 0, 'the old table has no watched column');
      const store = await readyStore(newPool(3), table);
      const claim = record();
      assert.equal((await store.acquire(claim, claim.createdAt)).acquired, true);
      await store.watch!('warm-up', AbortSignal.timeout(5000));
      const woke = store.watch!(claim.key, AbortSignal.timeout(5000));
      await sleep(50);
      await store.release(claim.key, claim.token);
      assert.equal(await settlesWithin(woke, 2000), true, 'a marked record notifies on the upgraded table');
    });

    it('accepts a schema-qualified table', async () => {
      const schema = `idemkit_test_schema_${run}`;
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      const store = await readyStore(admin, `${schema}.records`, false);
      const claim = record();
      assert.equal((await store.acquire(claim, claim.createdAt)).acquired, true);
      const { rows } = await admin.query(`SELECT token FROM ${schema}.records`);
      assert.deepEqual(rows, [{ token: claim.token }]);
    });

    it('rejects table names that are not plain identifiers', () => {
      for (const table of ['', 'a b', 'x;DROP TABLE y', '"quoted"', '1abc', 'a.b.c', 'a.', 'x'.repeat(64)]) {
        assert.throws(() => postgresStore({ pool: admin, table }), TypeError, table);
      }
      assert.throws(() => postgresStore({ pool: {} as pg.Pool }), TypeError);
    });
  });

  describe('concurrency', () => {
    it('100 racers over a 20-connection pool: exactly one wins, every loser sees the winner', async () => {
      const store = await readyStore(newPool(20), tableName('race'));
      for (let round = 0; round < 5; round++) {
        const now = Date.now();
        const key = `race:${randomUUID()}`;
        const results = await Promise.all(
          Array.from({ length: 100 }, () => store.acquire(record({ key, createdAt: now }), now)),
        );
        const winners = results.filter((result) => result.acquired);
        assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
        for (const result of results) assert.equal(result.record.token, winners[0]!.record.token);

        const later = now + 30_001;
        const takeovers = await Promise.all(
          Array.from({ length: 100 }, () => store.acquire(record({ key, createdAt: later }), later)),
        );
        const newOwners = takeovers.filter((result) => result.acquired);
        assert.equal(newOwners.length, 1, `round ${round}: ${newOwners.length} takeovers won`);
        for (const result of takeovers) assert.equal(result.record.token, newOwners[0]!.record.token);
        assert.equal(newOwners[0]!.record.expiresAt, now + 86_400_000, 'a takeover keeps expiresAt');
      }
    });

    it('a loser blocked by a row committed after its snapshot retries and returns that row', async () => {
      const table = tableName('snapshot');
      const store = await readyStore(newPool(2), table);
      const other = await admin.connect();
      try {
        const theirs = record();
        await other.query('BEGIN');
        await other.query(
          `INSERT INTO ${table} (key, fingerprint, state, token, lease_until, expires_at, created_at)
           VALUES ($1, $2, 'in-flight', $3, $4, $5, $6)`,
          [
            theirs.key,
            theirs.fingerprint,
            theirs.token,
            theirs.leaseUntil,
            theirs.expiresAt,
            theirs.createdAt,
          ],
        );
        const pending = store.acquire(record({ key: theirs.key }), theirs.createdAt);
        await sleep(150); // the claim is now waiting on the uncommitted row
        await other.query('COMMIT');
        const result = await pending;
        assert.equal(result.acquired, false);
        assert.equal(result.record.token, theirs.token);
      } finally {
        other.release();
      }
    });

    it('a loser blocked by an update committed after its snapshot returns the latest version', async () => {
      const table = tableName('update');
      const store = await readyStore(newPool(2), table);
      const first = record();
      await store.acquire(first, first.createdAt);
      // In our snapshot the lease has lapsed, so the claim goes for the row; meanwhile another
      // caller takes it over and holds it until after our claim examined it.
      const later = first.leaseUntil + 1;
      const other = await admin.connect();
      try {
        await other.query('BEGIN');
        await other.query(`UPDATE ${table} SET token = 'newer', lease_until = $2 WHERE key = $1`, [
          first.key,
          later + 30_000,
        ]);
        const pending = Promise.resolve(store.acquire(record({ key: first.key, createdAt: later }), later));
        assert.equal(await settlesWithin(pending, 150), false, 'the claim waits on the row lock');
        await other.query('COMMIT');
        const result = await pending;
        assert.equal(result.acquired, false);
        assert.equal(result.record.token, 'newer', 'the loser must not report a superseded version');
      } finally {
        other.release();
      }
    });

    it('a replay only reads: it takes no row lock and does not queue behind one', async () => {
      const table = tableName('replay');
      const store = await readyStore(newPool(2), table);
      const first = record();
      await store.acquire(first, first.createdAt);
      const response = {
        status: 201,
        headers: [['x-id', '1']] as [string, string][],
        body: Buffer.from('ok'),
      };
      assert.equal(await store.complete(first.key, first.token, response, first.expiresAt), true);
      const xmax = async () =>
        (await admin.query(`SELECT xmax::text AS xmax FROM ${table} WHERE key = $1`, [first.key])).rows[0]
          .xmax;
      const before = await xmax();

      const replay = await store.acquire(record({ key: first.key }), first.createdAt);
      assert.equal(replay.acquired, false);
      assert.equal(replay.record.response?.status, 201);
      assert.equal(await xmax(), before, 'the replay wrote no lock into the row');

      const other = await admin.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT FROM ${table} WHERE key = $1 FOR UPDATE`, [first.key]);
        const blocked = Promise.resolve(store.acquire(record({ key: first.key }), first.createdAt));
        assert.equal(await settlesWithin(blocked, 1000), true, 'a replay must not wait for a row lock');
        assert.deepEqual((await blocked).record.response?.body, Buffer.from('ok'));
      } finally {
        await other.query('ROLLBACK');
        other.release();
      }
    });
  });

  describe('prepared statements', () => {
    type Sent = string | { name: string; text: string; values: unknown[] };

    /** `target`, recording the first argument of every query sent through it. */
    function recording(target: pg.Pool | pg.Client): { pool: PostgresQueryable; sent: Sent[] } {
      const sent: Sent[] = [];
      const query = (first: Sent, values?: unknown[]) => {
        sent.push(first);
        return typeof first === 'string' ? target.query(first, values) : target.query(first);
      };
      return { pool: { query: query as PostgresQueryable['query'] }, sent };
    }

    /** One of every per-request operation, through `store`. */
    async function everyOperation(store: PostgresStore): Promise<void> {
      const first = record();
      await store.acquire(first, first.createdAt);
      await store.renew(first.key, first.token, first.leaseUntil + 1);
      const response = { status: 200, headers: [], body: new Uint8Array() };
      await store.complete(first.key, first.token, response, first.expiresAt);
      await store.acquire(record({ key: first.key }), first.createdAt);
      await store.get(first.key, first.createdAt);
      const second = record();
      await store.acquire(second, second.createdAt);
      await store.release(second.key, second.token);
      await store.purgeExpired(0);
    }

    function named(sent: Sent[]): Array<{ name: string; text: string }> {
      return sent.filter((query): query is Exclude<Sent, string> => typeof query !== 'string');
    }

    it('sends every per-request statement named after its SQL, and setup unnamed', async () => {
      const { pool, sent } = recording(newPool(2));
      const store = postgresStore({ pool, table: tableName('named') });
      stores.push(store);
      await store.setup();
      await everyOperation(store);

      assert.equal(typeof sent[0], 'string', 'setup is several statements: simple protocol only');
      assert.match(sent[0] as string, /pg_advisory_xact_lock/);
      const statements = named(sent);
      const unnamed = sent.slice(1).filter((query) => typeof query === 'string');
      assert.deepEqual(unnamed, [sent.at(-1)], 'everything after setup is named, except the purge');
      const nameOf = new Map<string, string>();
      for (const { name, text } of statements) {
        assert.match(name, /^idemkit_[a-z]+_[0-9a-f]{40}$/);
        assert.ok(Buffer.byteLength(name) <= 63, `${name} is longer than NAMEDATALEN allows`);
        assert.equal(nameOf.get(text) ?? name, name, 'the same SQL is always sent under the same name');
        nameOf.set(text, name);
      }
      assert.equal(nameOf.size, 5, 'claim, renew, complete, get, release');
      assert.equal(new Set(nameOf.values()).size, nameOf.size, 'different SQL, different names');

      // Another table (or notify setting) is other SQL, so it must never reuse these names.
      const other = recording(newPool(1));
      const elsewhere = postgresStore({ pool: other.pool, table: tableName('named'), notify: false });
      stores.push(elsewhere);
      await elsewhere.setup();
      await everyOperation(elsewhere);
      for (const { name } of named(other.sent)) assert.equal([...nameOf.values()].includes(name), false);
    });

    it('prepares each statement once on the connection', async () => {
      const session = new pg.Client(connection);
      await session.connect();
      try {
        const { pool, sent } = recording(session);
        const store = postgresStore({ pool, table: tableName('prepared') });
        await store.setup();
        await everyOperation(store);
        await everyOperation(store);
        const { rows } = await session.query(
          `SELECT name FROM pg_prepared_statements WHERE name LIKE 'idemkit\\_%' ORDER BY name`,
        );
        const names = [...new Set(named(sent).map(({ name }) => name))].sort();
        assert.equal(names.length, 5, 'claim, renew, complete, get, release');
        assert.deepEqual(
          rows.map((row) => row.name),
          names,
        );
      } finally {
        await session.end();
      }
    });

    it('prepare: false sends every statement unnamed', async () => {
      const { pool, sent } = recording(newPool(2));
      const store = postgresStore({ pool, table: tableName('unnamed'), prepare: false });
      stores.push(store);
      await store.setup();
      await everyOperation(store);
      assert.ok(sent.length > 1);
      assert.deepEqual(named(sent), []);
    });

    it('keeps working when its table is dropped and created again', async () => {
      const table = tableName('recreated');
      const store = await readyStore(newPool(2), table);
      await everyOperation(store);
      await admin.query(`DROP TABLE ${table}`);
      await store.setup();
      await everyOperation(store);
      const claim = record();
      assert.equal((await store.acquire(claim, claim.createdAt)).acquired, true);
      assert.equal((await store.get(claim.key, claim.createdAt))?.token, claim.token);
    });
  });

  describe('purgeExpired', () => {
    it('deletes in batches, returns the total and keeps live rows', async () => {
      const table = tableName('purge');
      const store = await readyStore(admin, table);
      await admin.query(
        `INSERT INTO ${table} (key, fingerprint, state, token, lease_until, expires_at, created_at)
         SELECT 'old:' || i, 'f', 'completed', 't', 0, 1000, 0 FROM generate_series(1, 2500) AS i`,
      );
      const live = record({ createdAt: 500 });
      await store.acquire(live, 500);
      assert.equal(await store.purgeExpired(1000), 2500);
      const { rows } = await admin.query(`SELECT key FROM ${table}`);
      assert.deepEqual(rows, [{ key: live.key }]);
      assert.equal(await store.purgeExpired(1000), 0);
    });

    it('finds expired rows through the expires_at index', async () => {
      const table = tableName('explain');
      await readyStore(admin, table);
      const session = await admin.connect();
      try {
        await session.query('SET enable_seqscan = off');
        const { rows } = await session.query(
          `EXPLAIN SELECT key FROM ${table} WHERE expires_at <= 1000 LIMIT 1000 FOR UPDATE SKIP LOCKED`,
        );
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
        assert.match(plan, new RegExp(`${table}_expires_at_idx`), plan);
      } finally {
        await session.query('RESET enable_seqscan');
        session.release();
      }
    });
  });

  describe('watch (LISTEN/NOTIFY)', () => {
    async function warmStore(table = tableName('watch')): Promise<PostgresStore> {
      const store = await readyStore(newPool(5), table);
      // The first watch opens the LISTEN connection and resolves once it is listening.
      await store.watch!('warm-up', AbortSignal.timeout(5000));
      return store;
    }

    it('wakes on complete, release and takeover, and not for other keys', async () => {
      const store = await warmStore();
      const signal = AbortSignal.timeout(5000);

      const first = record();
      await store.acquire(first, first.createdAt);
      const other = record();
      await store.acquire(other, other.createdAt);
      const untouched = store.watch!(other.key, signal);
      const completed = store.watch!(first.key, signal);
      assert.equal(await settlesWithin(completed, 100), false, 'nothing changed yet');
      await store.complete(
        first.key,
        first.token,
        { status: 200, headers: [], body: new Uint8Array() },
        first.expiresAt,
      );
      assert.equal(await settlesWithin(completed, 2000), true, 'complete');

      const second = record();
      await store.acquire(second, second.createdAt);
      const released = store.watch!(second.key, signal);
      await sleep(20);
      await store.release(second.key, second.token);
      assert.equal(await settlesWithin(released, 2000), true, 'release');

      const third = record();
      await store.acquire(third, third.createdAt);
      const takenOver = store.watch!(third.key, signal);
      await sleep(20);
      const later = third.leaseUntil + 1;
      assert.equal((await store.acquire(record({ key: third.key, createdAt: later }), later)).acquired, true);
      assert.equal(await settlesWithin(takenOver, 2000), true, 'takeover');

      assert.equal(await settlesWithin(untouched, 50), false, 'an unrelated key must not wake');
    });

    it('hears notifications from another process (another pool on the same table)', async () => {
      const table = tableName('watch');
      const store = await warmStore(table);
      const writer = await readyStore(newPool(2), table);
      const claim = record();
      await writer.acquire(claim, claim.createdAt);
      const woke = store.watch!(claim.key, AbortSignal.timeout(5000));
      await sleep(20);
      await writer.release(claim.key, claim.token);
      assert.equal(await settlesWithin(woke, 2000), true);
    });

    it('survives a dropped LISTEN connection and listens again on the next watch', async () => {
      const table = tableName('watch');
      const store = await warmStore(table);
      const channel = `idemkit:${table}`;
      const listeners = async () =>
        (
          await admin.query('SELECT pid FROM pg_stat_activity WHERE query = $1', [`LISTEN "${channel}"`])
        ).rows.map((row) => row.pid as number);
      const [pid] = await listeners();
      assert.ok(pid, 'a LISTEN connection is open');

      // Watch a claim in flight: a key with no claim would wake at once, whether or not the drop was heard.
      const held = record();
      await store.acquire(held, held.createdAt);
      const waiting = store.watch!(held.key, AbortSignal.timeout(5000));
      await sleep(20);
      assert.equal(await settlesWithin(waiting, 0), false, 'an in-flight key waits');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      assert.equal(
        await settlesWithin(waiting, 2000),
        true,
        'waiters are told to re-check when the connection drops',
      );

      // The next watch reconnects (and resolves once listening); the one after waits for NOTIFY.
      await store.watch!('reconnect', AbortSignal.timeout(5000));
      // The terminated backend can still be listed for a moment after its client saw the error.
      const fresh = (await listeners()).filter((other) => other !== pid);
      assert.equal(fresh.length, 1, 'a new LISTEN connection replaced the dropped one');
      const claim = record();
      await store.acquire(claim, claim.createdAt);
      const woke = store.watch!(claim.key, AbortSignal.timeout(5000));
      await sleep(20);
      await store.release(claim.key, claim.token);
      assert.equal(await settlesWithin(woke, 2000), true);
    });

    it('settles on abort and after close(), and close() gives the connection back', async () => {
      const pool = newPool(3);
      const store = await readyStore(pool, tableName('close'));
      await store.watch!('warm-up', AbortSignal.timeout(5000));
      const claim = record();
      await store.acquire(claim, claim.createdAt);
      // In flight and marked, so only an abort or close() can settle these.
      const aborted = new AbortController();
      const pending = store.watch!(claim.key, aborted.signal);
      await sleep(50);
      assert.equal(pool.totalCount - pool.idleCount, 1, 'one connection held for LISTEN');
      aborted.abort();
      assert.equal(await settlesWithin(pending, 100), true);
      const open = store.watch!(claim.key, AbortSignal.timeout(5000));
      const pooled = pool.totalCount;
      await store.close();
      assert.equal(await settlesWithin(open, 100), true);
      assert.equal(pool.totalCount, pooled - 1, 'the LISTEN connection is destroyed, not pooled');
      assert.equal(pool.totalCount - pool.idleCount, 0, 'nothing is held after close()');
    });

    it('sends NOTIFY only for records a waiter marked', async () => {
      const table = tableName('watch');
      const store = await warmStore(table);
      const writer = await readyStore(newPool(2), table);
      const heard: string[] = [];
      const spy = await admin.connect();
      try {
        spy.on('notification', (message) => heard.push(message.payload ?? ''));
        await spy.query(`LISTEN "idemkit:${table}"`);
        const response = { status: 201, headers: [], body: new Uint8Array([1]) };
        // Unwatched: completed, released and taken over without a NOTIFY.
        const done = record();
        await writer.acquire(done, done.createdAt);
        await writer.complete(done.key, done.token, response, done.expiresAt);
        const dropped = record();
        await writer.acquire(dropped, dropped.createdAt);
        await writer.release(dropped.key, dropped.token);
        const lapsed = record({ leaseUntil: Date.now() - 1 });
        await writer.acquire(lapsed, lapsed.createdAt);
        const later = Date.now();
        assert.equal(
          (await writer.acquire(record({ key: lapsed.key, createdAt: later }), later)).acquired,
          true,
        );
        // Watched from another process's store: its completion notifies.
        const waited = record();
        await writer.acquire(waited, waited.createdAt);
        const woke = store.watch!(waited.key, AbortSignal.timeout(5000));
        await sleep(50);
        await writer.complete(waited.key, waited.token, response, waited.expiresAt);
        assert.equal(await settlesWithin(woke, 2000), true, 'the marked record woke its waiter');
        // Notifications arrive in commit order: had the unwatched changes notified, they came first.
        for (let i = 0; i < 100 && heard.length === 0; i++) await sleep(20);
        assert.deepEqual(heard, [waited.key]);
      } finally {
        spy.release(true);
      }
    });

    it('wakes a watch at once when its record stopped being in flight before it was marked', async () => {
      const store = await warmStore();
      const gone = record();
      await store.acquire(gone, gone.createdAt);
      await store.complete(
        gone.key,
        gone.token,
        { status: 200, headers: [], body: new Uint8Array() },
        gone.expiresAt,
      );
      // No NOTIFY will come for it: the mark finds the record completed and wakes the waiter.
      assert.equal(await settlesWithin(store.watch!(gone.key, AbortSignal.timeout(5000)), 2000), true);
      assert.equal(
        await settlesWithin(store.watch!(`absent:${randomUUID()}`, AbortSignal.timeout(5000)), 2000),
        true,
      );
    });

    it('works with a 63-character table name (hashed channel, truncated index name)', async () => {
      const table = `idemkit_test_long_${run}_`.padEnd(63, 'x');
      tables.push(table);
      const store = await readyStore(newPool(3), table);
      await store.setup();
      await store.watch!('warm-up', AbortSignal.timeout(5000));
      const claim = record();
      await store.acquire(claim, claim.createdAt);
      const woke = store.watch!(claim.key, AbortSignal.timeout(5000));
      await sleep(20);
      await store.release(claim.key, claim.token);
      assert.equal(await settlesWithin(woke, 2000), true);
    });

    it('has no watch with a single Client or notify: false', async () => {
      assert.equal(postgresStore({ pool: client }).watch, undefined);
      assert.equal(postgresStore({ pool: admin, notify: false }).watch, undefined);
    });
  });
});
