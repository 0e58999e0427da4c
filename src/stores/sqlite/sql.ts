/**
 * The SQL the SQLite store runs. The table name arrives validated and quoted; every value is a
 * named parameter (`@name`, bound from an object).
 */

/** How many expired rows one purge statement deletes, so other writers get the lock in between. */
export const purgeBatchSize = 1000;

export interface SqliteStatements {
  ddl: string;
  /** @key @fingerprint @token @leaseUntil @expiresAt @createdAt @now */
  claim: string;
  /** @key: the row a failed claim ran into (inside the same write transaction). */
  current: string;
  /** @key @token @status @headers @body @expiresAt */
  complete: string;
  /** @key @token */
  release: string;
  /** @key @token @leaseUntil */
  renew: string;
  /** @key @now */
  get: string;
  /** @now */
  purge: string;
}

const columns = 'key, fingerprint, state, token, lease_until, expires_at, created_at, status, headers, body';

export function sqliteStatements(table: string, index: string): SqliteStatements {
  const fenced = `key = @key AND token = @token AND state = 'in-flight'`;
  return {
    // A rowid table, not WITHOUT ROWID: rows carry bodies of up to a megabyte, which SQLite keeps
    // better in overflow pages of a rowid table.
    ddl: [
      `CREATE TABLE IF NOT EXISTS ${table} (`,
      `  key TEXT NOT NULL PRIMARY KEY,`,
      `  fingerprint TEXT NOT NULL,`,
      `  state TEXT NOT NULL CHECK (state IN ('in-flight', 'completed')),`,
      `  token TEXT NOT NULL,`,
      `  lease_until INTEGER NOT NULL,`,
      `  expires_at INTEGER NOT NULL,`,
      `  created_at INTEGER NOT NULL,`,
      `  status INTEGER,`,
      `  headers TEXT,`,
      `  body BLOB`,
      `);`,
      `CREATE INDEX IF NOT EXISTS ${index} ON ${table} (expires_at);`,
    ].join('\n'),

    // Inserts a free key, or updates the row when it has expired or its lease lapsed under the same
    // fingerprint. When the WHERE is false SQLite returns no row; the caller then reads the row
    // with `current` inside the same BEGIN IMMEDIATE transaction, so nobody can change it between.
    claim: [
      `INSERT INTO ${table} AS r (key, fingerprint, state, token, lease_until, expires_at, created_at)`,
      `VALUES (@key, @fingerprint, 'in-flight', @token, @leaseUntil, @expiresAt, @createdAt)`,
      `ON CONFLICT (key) DO UPDATE SET`,
      `  fingerprint = excluded.fingerprint,`,
      `  state = 'in-flight',`,
      `  token = excluded.token,`,
      `  lease_until = excluded.lease_until,`,
      // A takeover keeps the record's life span; replacing an expired record starts a new one.
      `  expires_at = CASE WHEN r.expires_at <= @now THEN excluded.expires_at ELSE r.expires_at END,`,
      `  created_at = CASE WHEN r.expires_at <= @now THEN excluded.created_at ELSE r.created_at END,`,
      `  status = NULL, headers = NULL, body = NULL`,
      `WHERE r.expires_at <= @now`,
      `   OR (r.state = 'in-flight' AND r.lease_until <= @now AND r.fingerprint = excluded.fingerprint)`,
      `RETURNING ${columns}`,
    ].join('\n'),
    current: `SELECT ${columns} FROM ${table} WHERE key = @key`,
    complete: `UPDATE ${table} SET state = 'completed', status = @status, headers = @headers, body = @body, expires_at = @expiresAt WHERE ${fenced}`,
    release: `DELETE FROM ${table} WHERE ${fenced}`,
    renew: `UPDATE ${table} SET lease_until = @leaseUntil WHERE ${fenced}`,
    get: `SELECT ${columns} FROM ${table} WHERE key = @key AND expires_at > @now`,
    purge: `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE expires_at <= @now LIMIT ${purgeBatchSize})`,
  };
}
