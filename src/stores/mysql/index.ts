import { asBuffer } from '../../core/bytes.js';
import { parseTableName, type RecordRow, recordFromRow } from '../../core/sql-rows.js';
import type {
  AcquireResult,
  IdempotencyRecord,
  IdempotencyStore,
  NewRecord,
  StoredResponse,
} from '../../core/store.js';
import { headersJson } from './headers-json.js';
import { claimOutcome, claimValues, mysqlStatements, purgeBatchSize } from './sql.js';

/**
 * What the store needs from a mysql2 promise `Pool` (`mysql2/promise`'s `createPool`), or anything
 * shaped like it. Rows must come back as objects (the default; not `rowsAsArray`).
 */
export interface MysqlQueryable {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
}

export interface MysqlStoreOptions {
  /** A mysql2 promise pool. The store never ends it. */
  pool: MysqlQueryable;
  /** Table name, optionally database-qualified (`billing.idempotency`). Default `idemkit_records`. */
  table?: string;
}

export interface MysqlStore extends IdempotencyStore {
  /** Create the table (with its index on expires_at) if it is missing. Safe to run concurrently. */
  setup(): Promise<void>;
  /** The DDL that `setup()` runs, for your own migrations. */
  schema(): string;
}

/** The OK packet mysql2 resolves a write with. */
interface WriteResult {
  affectedRows: number;
  insertId: number | string;
}

/** A claim that lost to a row that is gone by the time it is read is retried this many times. */
const claimAttempts = 5;
/** ER_LOCK_DEADLOCK: InnoDB rolled the statement back; running it again is safe. */
const deadlock = 1213;
/** How often one statement is run again after losing a deadlock. */
const deadlockAttempts = 5;

/**
 * A store in a MySQL 8 or MariaDB 10.5+ (InnoDB) table: durable, shared by every process that uses
 * the same database.
 *
 * Of N concurrent claims exactly one wins, across any number of processes: the row lock taken by
 * `INSERT … ON DUPLICATE KEY UPDATE` decides. Round trips: a claim that wins takes one (a takeover of
 * a lapsed lease two); a claim that loses takes two, the second reading the existing record with
 * its stored response (MySQL has no RETURNING for this, and the store does not assume
 * `multipleStatements`). complete, release, renew and get take one each.
 *
 * No `watch()`: waiting duplicates poll. Call `setup()` once at start-up (or run `schema()` in your
 * migrations), and purge expired rows on a schedule with `purgeExpired(Date.now())`.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * import { createIdempotency } from 'idemkit';
 * import { mysqlStore } from 'idemkit/stores/mysql';
 *
 * const pool = mysql.createPool(process.env.MYSQL_URL!);
 * const store = mysqlStore({ pool });
 * await store.setup();
 * const engine = createIdempotency({ store });
 * ```
 */
export function mysqlStore(options: MysqlStoreOptions): MysqlStore {
  const { pool } = options;
  if (typeof pool?.query !== 'function') {
    throw new TypeError('mysqlStore: `pool` must be a mysql2 promise Pool (an object with query())');
  }
  const table = options.table ?? 'idemkit_records';
  const sql = mysqlStatements(
    parseTableName(table, { store: 'mysqlStore', qualifier: 'database', maxLength: 64 }).map(quote).join('.'),
  );

  async function write(text: string, values: unknown[]): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        const [result] = await pool.query(text, values);
        return result as WriteResult;
      } catch (error) {
        // Concurrent upserts of one key can deadlock in InnoDB; the victim changed nothing.
        if ((error as { errno?: unknown }).errno !== deadlock || attempt === deadlockAttempts) throw error;
      }
    }
  }

  async function read(text: string, values: unknown[]): Promise<RecordRow | undefined> {
    const [rows] = await pool.query(text, values);
    return (rows as RecordRow[])[0];
  }

  const store: MysqlStore = {
    async setup(): Promise<void> {
      await pool.query(sql.ddl);
    },

    schema(): string {
      return `${sql.ddl};`;
    },

    async acquire(record: NewRecord, now: number): Promise<AcquireResult> {
      checkKey(record.key);
      for (const [name, value] of [
        ['fingerprint', record.fingerprint],
        ['token', record.token],
      ] as const) {
        if (!/^[\x20-\x7e]{1,128}$/.test(value)) {
          throw new TypeError(`mysqlStore: ${name} must be 1-128 printable ASCII characters`);
        }
      }
      const values = claimValues(record, now);
      for (let attempt = 1; attempt <= claimAttempts; attempt++) {
        const outcome = Number((await write(sql.claim, values)).insertId);
        if (outcome === claimOutcome.inserted || outcome === claimOutcome.replaced) {
          return { acquired: true, record: { ...record, state: 'in-flight' } };
        }
        if (outcome !== claimOutcome.lost && outcome !== claimOutcome.tookOver) {
          throw new Error(
            `mysqlStore: unexpected claim outcome ${outcome} (is ${table} the idemkit schema?)`,
          );
        }
        // Second round trip: the existing record (a loss), or the kept expiresAt and createdAt (a
        // takeover). Read apart from the claim, it may have changed meanwhile: a loser reports the
        // record as it is now, and a record released in between makes the claim run again.
        const row = await read(sql.read, [record.key]);
        if (outcome === claimOutcome.tookOver) {
          const kept = row?.token === record.token ? recordFromRow(row, record.key) : undefined;
          return {
            acquired: true,
            record: {
              ...record,
              state: 'in-flight',
              createdAt: kept?.createdAt ?? record.createdAt,
              expiresAt: kept?.expiresAt ?? record.expiresAt,
            },
          };
        }
        if (row) return { acquired: false, record: recordFromRow(row, record.key) };
      }
      throw new Error(
        `mysqlStore: the record for a contended key vanished ${claimAttempts} times while read`,
      );
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      expiresAt: number,
    ): Promise<boolean> {
      checkKey(key);
      const body = asBuffer(response.body);
      const values = [expiresAt, response.status, headersJson(response.headers), body, key, token];
      return (await write(sql.complete, values)).affectedRows > 0;
    },

    async release(key: string, token: string): Promise<boolean> {
      checkKey(key);
      return (await write(sql.release, [key, token])).affectedRows > 0;
    },

    async renew(key: string, token: string, leaseUntil: number): Promise<boolean> {
      checkKey(key);
      return Number((await write(sql.renew, [leaseUntil, key, token])).insertId) === 1;
    },

    async get(key: string, now: number): Promise<IdempotencyRecord | null> {
      checkKey(key);
      const row = await read(sql.get, [key, now]);
      return row ? recordFromRow(row, key) : null;
    },

    async purgeExpired(now: number): Promise<number> {
      // Batches keep each statement short, so a large purge never blocks claims for long.
      let purged = 0;
      for (;;) {
        const { affectedRows } = await write(sql.purge, [now]);
        purged += affectedRows;
        if (affectedRows < purgeBatchSize) return purged;
      }
    },
  };
  return store;
}

/**
 * Keys go into an ASCII column of 191 characters. Outside that a server in a non-strict sql_mode
 * would truncate or replace characters silently, which could merge two keys, so refuse them here.
 */
function checkKey(key: string): void {
  if (typeof key !== 'string' || !/^[\x20-\x7e]{1,191}$/.test(key)) {
    throw new TypeError('mysqlStore: a key must be 1-191 printable ASCII characters');
  }
}

/** Quoted so a name that is also a keyword still works; validation keeps backticks out. */
function quote(name: string): string {
  return `\`${name}\``;
}
