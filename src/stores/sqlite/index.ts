import { parseTableName, type RecordRow, recordFromRow } from '../../core/sql-rows.js';
import type {
  AcquireResult,
  IdempotencyRecord,
  IdempotencyStore,
  NewRecord,
  StoredResponse,
} from '../../core/store.js';
import { purgeBatchSize, type SqliteStatements, sqliteStatements } from './sql.js';

type PreparedName = Exclude<keyof SqliteStatements, 'ddl'> | 'begin' | 'commit' | 'rollback';

/** A prepared statement, as better-sqlite3 (v12) and node:sqlite shape it. */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number | bigint };
  get(...params: unknown[]): unknown;
}

/** What the store needs from a better-sqlite3 `Database` (node:sqlite's `DatabaseSync` fits too). */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
}

export interface SqliteStoreOptions {
  /** An open database. The store never closes it. */
  database: SqliteDatabase;
  /** Table name: letters, digits and `_`, not starting with a digit. Default `idemkit_records`. */
  table?: string;
  /**
   * How long (ms) a write waits for another connection's write lock before failing, set by
   * `setup()` (default 5000). better-sqlite3 is synchronous, so the wait blocks this thread.
   */
  busyTimeout?: number;
}

export interface SqliteStore extends IdempotencyStore {
  /**
   * Create the table and its index if missing, switch the file to WAL and set the busy timeout,
   * so several processes can share one file. Safe to run again and from several processes.
   */
  setup(): Promise<void>;
  /** The DDL that `setup()` runs (without the connection PRAGMAs), for your own migrations. */
  schema(): string;
}

/**
 * A store in a SQLite file: durable, and shared by every process that opens the same file on
 * the same machine (not over a network file system, where SQLite's locks are unreliable).
 *
 * `acquire` runs one `INSERT … ON CONFLICT DO UPDATE … RETURNING` inside `BEGIN IMMEDIATE`;
 * SQLite admits one writer at a time per file, so of N concurrent claims exactly one wins, across
 * processes. A losing claim reads the current record in the same transaction. Every other
 * operation is a single statement. Statements are prepared once, on first use.
 *
 * There is no `watch()`: SQLite cannot notify other processes, so waiting duplicates poll.
 *
 * Call `setup()` once at start-up (or run `schema()` in your migrations and set WAL yourself).
 * Purge expired rows on a schedule with `purgeExpired(Date.now())`.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { createIdempotency } from 'idemkit';
 * import { sqliteStore } from 'idemkit/stores/sqlite';
 *
 * const store = sqliteStore({ database: new Database('idempotency.db') });
 * await store.setup();
 * const engine = createIdempotency({ store });
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  const { database, busyTimeout = 5000 } = options;
  if (typeof database?.prepare !== 'function' || typeof database.exec !== 'function') {
    throw new TypeError(
      'sqliteStore: `database` must be a better-sqlite3 Database (with prepare() and exec())',
    );
  }
  if (!Number.isInteger(busyTimeout) || busyTimeout < 0) {
    throw new TypeError(
      `sqliteStore: busyTimeout must be a non-negative integer, got ${String(busyTimeout)}`,
    );
  }
  const table = options.table ?? 'idemkit_records';
  parseTableName(table, { store: 'sqliteStore', maxLength: 128 });
  const sql = sqliteStatements(`"${table}"`, `"${table}_expires_at_idx"`);

  // Prepared on first use rather than here, because the table may not exist before setup().
  let prepared: Record<PreparedName, SqliteStatement> | undefined;
  function statements(): Record<PreparedName, SqliteStatement> {
    prepared ??= {
      claim: database.prepare(sql.claim),
      current: database.prepare(sql.current),
      complete: database.prepare(sql.complete),
      release: database.prepare(sql.release),
      renew: database.prepare(sql.renew),
      get: database.prepare(sql.get),
      purge: database.prepare(sql.purge),
      begin: database.prepare('BEGIN IMMEDIATE'),
      commit: database.prepare('COMMIT'),
      rollback: database.prepare('ROLLBACK'),
    };
    return prepared;
  }

  function changed(statement: SqliteStatement, params: Record<string, unknown>): boolean {
    return Number(statement.run(params).changes) > 0;
  }

  return {
    async setup(): Promise<void> {
      // The timeout first: switching to WAL itself needs a lock another process may hold.
      database.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
      database.exec('PRAGMA journal_mode = WAL');
      database.exec(sql.ddl);
    },

    schema(): string {
      return sql.ddl;
    },

    acquire(record: NewRecord, now: number): AcquireResult {
      const { claim, current, begin, commit, rollback } = statements();
      // IMMEDIATE takes the write lock up front, so the failed claim and the read that follows
      // see the same row, and a deferred read-then-write can never hit SQLITE_BUSY mid-way.
      begin.run();
      try {
        const claimed = claim.get({
          key: record.key,
          fingerprint: record.fingerprint,
          token: record.token,
          leaseUntil: record.leaseUntil,
          expiresAt: record.expiresAt,
          createdAt: record.createdAt,
          now,
        }) as RecordRow | undefined;
        const row = claimed ?? (current.get({ key: record.key }) as RecordRow | undefined);
        if (!row) throw new Error('sqliteStore: a claim conflicted with a row that is not there');
        commit.run();
        return { acquired: claimed !== undefined, record: recordFromRow(row) };
      } catch (error) {
        try {
          rollback.run();
        } catch {
          // SQLite already rolled back on its own (it does for some errors, such as a full disk).
        }
        throw error;
      }
    },

    complete(key: string, token: string, response: StoredResponse, expiresAt: number): boolean {
      return changed(statements().complete, {
        key,
        token,
        status: response.status,
        headers: JSON.stringify(response.headers),
        body: response.body,
        expiresAt,
      });
    },

    release(key: string, token: string): boolean {
      return changed(statements().release, { key, token });
    },

    renew(key: string, token: string, leaseUntil: number): boolean {
      return changed(statements().renew, { key, token, leaseUntil });
    },

    get(key: string, now: number): IdempotencyRecord | null {
      const row = statements().get.get({ key, now }) as RecordRow | undefined;
      return row ? recordFromRow(row) : null;
    },

    async purgeExpired(now: number): Promise<number> {
      // Each batch is its own transaction, so other writers (in this process and others) get the
      // lock in between; yielding to the event loop lets this process's requests run too.
      const { purge } = statements();
      let purged = 0;
      for (;;) {
        const deleted = Number(purge.run({ now }).changes);
        purged += deleted;
        if (deleted < purgeBatchSize) return purged;
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}
