import { createHash } from 'node:crypto';
import { parseTableName, type RecordRow, recordFromRow } from '../../core/sql-rows.js';
import type {
  AcquireResult,
  IdempotencyRecord,
  IdempotencyStore,
  NewRecord,
  StoredResponse,
} from '../../core/store.js';
import { type KeyListener, keyListener, type ListenPool } from './listener.js';
import { postgresStatements, purgeBatchSize } from './sql.js';

/** What a query resolves to: the part of node-postgres's `QueryResult` the store reads. */
export interface PostgresQueryResult {
  rows: unknown[];
  rowCount: number | null;
}

/**
 * What the store needs from a node-postgres `Pool` or `Client` (or anything shaped like them):
 * `query(text, values)`, and pg's query-config form `query({ name, text, values })`, which runs a
 * named prepared statement (the one the store uses for its per-request statements, unless
 * `prepare: false`).
 */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<PostgresQueryResult>;
  query(statement: { name: string; text: string; values: unknown[] }): Promise<PostgresQueryResult>;
}

export interface PostgresStoreOptions {
  /**
   * A pg `Pool` (recommended) or a connected `Client`. The store never ends it. With a `Pool`, the
   * store borrows one connection for LISTEN the first time a duplicate waits, and returns it in
   * `close()`.
   */
  pool: PostgresQueryable;
  /** Table name, optionally schema-qualified (`billing.idempotency`). Default `idemkit_records`. */
  table?: string;
  /**
   * LISTEN for changes to records that duplicates wait on, so they wake at once instead of polling
   * (default true). A waiting process marks the record (one write per key it waits on), and only a
   * marked record sends NOTIFY when it completes, is released or is taken over: PostgreSQL
   * serialises the commits of notifying transactions on one lock per database, which a NOTIFY on
   * every completion would turn into a ceiling on the write rate. Every process sharing the table
   * should use the same setting: a process with `notify: false` neither marks nor notifies.
   */
  notify?: boolean;
  /**
   * Send the per-request statements as named prepared statements, so each connection parses and
   * plans them once instead of on every call (default true). Turn it off behind a pooler that
   * does not keep prepared statements across transactions: PgBouncer in transaction mode before
   * 1.21 (or with `max_prepared_statements = 0`), and poolers like it.
   */
  prepare?: boolean;
}

export interface PostgresStore extends IdempotencyStore {
  /** Create the table and its index if they are missing. Safe to run from many processes at once. */
  setup(): Promise<void>;
  /** The DDL that `setup()` runs, for your own migrations. */
  schema(): string;
  /** Let go of the LISTEN connection, if one was opened. The pool itself stays open. */
  close(): Promise<void>;
}

/** A claim that found a row it could not read yet is retried this many times (see acquire). */
const claimAttempts = 5;

/**
 * A store in a PostgreSQL table: durable, shared by every process that uses the same database.
 *
 * Each operation is one statement and one round trip, including a losing `acquire`, which returns
 * the current record with its stored response; a claim that loses a race to one written after its
 * statement began runs the statement once more, to read the winner's record. Of N concurrent
 * claims exactly one wins (the row lock taken by `INSERT … ON CONFLICT DO UPDATE` decides), across
 * any number of processes. An `acquire` that finds a live record it may not replace (a replay, or
 * a duplicate of a request in flight) only reads: it takes no row lock and writes nothing.
 *
 * Waiting duplicates: with a `Pool` and `notify` on (the default) the store implements `watch()`
 * with LISTEN/NOTIFY on one borrowed connection, for the records a waiter marked; with a single
 * `Client`, or `notify: false`, the engine polls. Every process sharing the table should use the
 * same `notify` setting, or waiters in the others fall back to polling.
 *
 * Call `setup()` once at start-up (or run `schema()` in your migrations). Purge expired rows on a
 * schedule with `purgeExpired(Date.now())`; the index on `expires_at` keeps that cheap.
 *
 * Prepared statements (see `prepare`) are named after a hash of their SQL, so stores on different
 * tables never share one. Dropping the table and creating it again with the same columns is fine:
 * PostgreSQL re-plans them. Changing the type of one of the table's columns is not: connections
 * that already prepared a statement reading it fail with "cached plan must not change result
 * type" until they reconnect, so restart the processes (or their pools) after such a migration.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createIdempotency } from 'idemkit';
 * import { postgresStore } from 'idemkit/stores/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const store = postgresStore({ pool });
 * await store.setup();
 * const engine = createIdempotency({ store });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const { pool, notify = true, prepare = true } = options;
  if (typeof pool?.query !== 'function') {
    throw new TypeError('postgresStore: `pool` must be a pg Pool or Client (an object with query())');
  }
  const table = options.table ?? 'idemkit_records';
  const parts = parseTableName(table, { store: 'postgresStore', qualifier: 'schema', maxLength: 63 });
  const unqualified = parts[parts.length - 1]!;
  const channel = notify ? channelFor(table) : undefined;
  const sql = postgresStatements({
    table: parts.map(quote).join('.'),
    index: quote(`${unqualified}_expires_at_idx`),
    channel,
    lockName: table,
  });
  const claim = statement('claim', sql.claim);
  const complete = statement('complete', sql.complete);
  const release = statement('release', sql.release);
  const renew = statement('renew', sql.renew);
  const get = statement('get', sql.get);
  const markWatched = statement('watch', sql.watch);

  const send = prepare
    ? ({ name, text }: Statement, values: unknown[]) => pool.query({ name, text, values })
    : ({ text }: Statement, values: unknown[]) => pool.query(text, values);

  async function rows(statement: Statement, values: unknown[]): Promise<RecordRow[]> {
    return (await send(statement, values)).rows as RecordRow[];
  }

  async function changed(statement: Statement, values: unknown[]): Promise<boolean> {
    return ((await send(statement, values)).rowCount ?? 0) > 0;
  }

  const listener: KeyListener | undefined =
    channel && isPool(pool) ? keyListener(pool, channel, (key) => changed(markWatched, [key])) : undefined;

  const store: PostgresStore = {
    async setup(): Promise<void> {
      // No bind values: the simple query protocol runs the statements as one transaction.
      await pool.query(sql.setup);
    },

    schema(): string {
      return sql.ddl;
    },

    async acquire(record: NewRecord, now: number): Promise<AcquireResult> {
      const values = [
        record.key,
        record.fingerprint,
        record.token,
        record.leaseUntil,
        record.expiresAt,
        record.createdAt,
        now,
      ];
      for (let attempt = 1; ; attempt++) {
        const [row] = await rows(claim, values);
        if (row) {
          const { acquired } = row as RecordRow & { acquired: boolean };
          return { acquired, record: recordFromRow(row) };
        }
        // Lost to a row written after this statement's snapshot was taken (a concurrent claim
        // inserted it or took it over): run it again with a fresh snapshot, which sees that row
        // (or, if it was released meanwhile, claims the key).
        if (attempt === claimAttempts) {
          throw new Error(
            `postgresStore: the record for a contended key stayed unreadable after ${attempt} tries`,
          );
        }
      }
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      expiresAt: number,
    ): Promise<boolean> {
      const headers = JSON.stringify(response.headers);
      return changed(complete, [key, token, response.status, headers, response.body, expiresAt]);
    },

    release(key: string, token: string): Promise<boolean> {
      return changed(release, [key, token]);
    },

    renew(key: string, token: string, leaseUntil: number): Promise<boolean> {
      return changed(renew, [key, token, leaseUntil]);
    },

    async get(key: string, now: number): Promise<IdempotencyRecord | null> {
      const [row] = await rows(get, [key, now]);
      return row ? recordFromRow(row) : null;
    },

    async purgeExpired(now: number): Promise<number> {
      // Batches keep each statement short, so a large purge never blocks claims for long.
      let purged = 0;
      for (;;) {
        // Unnamed: it runs on a schedule, not per request, and a plan made for this cutoff picks
        // the index only when few rows have expired.
        const { rowCount } = await pool.query(sql.purge, [now]);
        purged += rowCount ?? 0;
        if ((rowCount ?? 0) < purgeBatchSize) return purged;
      }
    },

    async close(): Promise<void> {
      await listener?.close();
    },
  };
  if (listener) {
    /**
     * Resolves when this key's record is completed, released or taken over (or once, right after
     * the LISTEN connection opens, since changes made meanwhile were not heard). A hint only.
     */
    store.watch = (key, signal) => listener.watch(key, signal);
  }
  return store;
}

interface Statement {
  name: string;
  text: string;
}

/**
 * A per-request statement and its prepared-statement name. The name is a hash of the SQL, so a
 * store on another table, with another `notify`, or from another idemkit version never reuses a
 * name for different text (pg refuses that); 57 bytes at most, under PostgreSQL's 63.
 */
function statement(operation: string, text: string): Statement {
  return {
    name: `idemkit_${operation}_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`,
    text,
  };
}

/** Quoted so the name is used exactly as given (case included), never as SQL. */
function quote(name: string): string {
  return `"${name}"`;
}

/** A channel name per table; PostgreSQL caps identifiers at 63 bytes, so long names are hashed. */
function channelFor(table: string): string {
  const channel = `idemkit:${table}`;
  return channel.length <= 63
    ? channel
    : `idemkit:${createHash('sha256').update(table).digest('hex').slice(0, 40)}`;
}

/**
 * A pg `Pool` lends connections; a `Client` (or a client already checked out of a pool) has a
 * `connect()` that means something else. pg-pool and its look-alikes expose `totalCount`.
 */
function isPool(pool: PostgresQueryable): pool is PostgresQueryable & ListenPool {
  return typeof (pool as Partial<ListenPool>).connect === 'function' && 'totalCount' in pool;
}
