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

/** What the store needs from a node-postgres `Pool` or `Client` (or anything shaped like them). */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
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
   * Send NOTIFY when a record completes, is released or is taken over, and LISTEN for it so waiting
   * duplicates wake at once instead of polling (default true). Turn it off when the write rate is
   * very high: PostgreSQL serialises the commits of notifying transactions on one global lock.
   */
  notify?: boolean;
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
 * the current record with its stored response. Of N concurrent claims exactly one wins (the row
 * lock taken by `INSERT … ON CONFLICT DO UPDATE` decides), across any number of processes.
 *
 * Waiting duplicates: with a `Pool` and `notify` on (the default) the store implements `watch()`
 * with LISTEN/NOTIFY on one borrowed connection; with a single `Client`, or `notify: false`, the
 * engine polls. Every process sharing the table should use the same `notify` setting, or waiters
 * in the others fall back to polling.
 *
 * Call `setup()` once at start-up (or run `schema()` in your migrations). Purge expired rows on a
 * schedule with `purgeExpired(Date.now())`; the index on `expires_at` keeps that cheap.
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
  const { pool, notify = true } = options;
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
  const listener: KeyListener | undefined = channel && isPool(pool) ? keyListener(pool, channel) : undefined;

  async function rows(text: string, values: unknown[]): Promise<RecordRow[]> {
    return (await pool.query(text, values)).rows as RecordRow[];
  }

  async function changed(text: string, values: unknown[]): Promise<boolean> {
    return ((await pool.query(text, values)).rowCount ?? 0) > 0;
  }

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
        const [row] = await rows(sql.claim, values);
        if (row) {
          const { acquired } = row as RecordRow & { acquired: boolean };
          return { acquired, record: recordFromRow(row) };
        }
        // Lost to a row committed after this statement's snapshot was taken: run it again with a
        // fresh snapshot, which sees that row (or, if it was released meanwhile, claims the key).
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
      return changed(sql.complete, [key, token, response.status, headers, response.body, expiresAt]);
    },

    release(key: string, token: string): Promise<boolean> {
      return changed(sql.release, [key, token]);
    },

    renew(key: string, token: string, leaseUntil: number): Promise<boolean> {
      return changed(sql.renew, [key, token, leaseUntil]);
    },

    async get(key: string, now: number): Promise<IdempotencyRecord | null> {
      const [row] = await rows(sql.get, [key, now]);
      return row ? recordFromRow(row) : null;
    },

    async purgeExpired(now: number): Promise<number> {
      // Batches keep each statement short, so a large purge never blocks claims for long.
      let purged = 0;
      for (;;) {
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
