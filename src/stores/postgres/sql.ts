/**
 * The SQL the PostgreSQL store sends. Identifiers arrive validated and quoted; every value is a
 * bind parameter, except the NOTIFY channel, which is built from the validated table name.
 */

/** How many expired rows one purge statement deletes, so a purge never holds locks on millions of rows. */
export const purgeBatchSize = 1000;

export interface PostgresStatements {
  ddl: string;
  /** $1 lock id text; then the DDL. Several statements in one simple query run as one transaction. */
  setup: string;
  /** $1 key, $2 fingerprint, $3 token, $4 leaseUntil, $5 expiresAt, $6 createdAt, $7 now. */
  claim: string;
  /** $1 key, $2 token, $3 status, $4 headers (JSON text), $5 body, $6 expiresAt. */
  complete: string;
  /** $1 key, $2 token. */
  release: string;
  /** $1 key, $2 token, $3 leaseUntil. */
  renew: string;
  /** $1 key, $2 now. */
  get: string;
  /** $1 key. Marks an in-flight record as waited on, so its change sends NOTIFY; rowCount 1 if it is in flight. */
  watch: string;
  /** $1 now. */
  purge: string;
}

export interface StatementNames {
  /** The quoted, possibly schema-qualified table. */
  table: string;
  /** The quoted index name (unqualified: an index lives in its table's schema). */
  index: string;
  /** The NOTIFY channel, or undefined when notifications are off. */
  channel: string | undefined;
  /** Unquoted table name, to derive the advisory lock that serialises concurrent setup(). */
  lockName: string;
}

const columns = 'key, fingerprint, state, token, lease_until, expires_at, created_at, status, headers, body';

export function postgresStatements({ table, index, channel, lockName }: StatementNames): PostgresStatements {
  const ddl = [
    `CREATE TABLE IF NOT EXISTS ${table} (`,
    // "C" collation: keys are hashes, so byte order is all we need and comparisons stay cheap.
    `  key text COLLATE "C" PRIMARY KEY,`,
    `  fingerprint text NOT NULL,`,
    `  state text NOT NULL CHECK (state IN ('in-flight', 'completed')),`,
    `  token text NOT NULL,`,
    `  lease_until bigint NOT NULL,`,
    `  expires_at bigint NOT NULL,`,
    `  created_at bigint NOT NULL,`,
    `  status integer,`,
    `  headers jsonb,`,
    `  body bytea,`,
    // Set by a waiter in another process (see watch below): only then does a change send NOTIFY.
    `  watched boolean NOT NULL DEFAULT false`,
    `);`,
    // Tables created before the column existed get it (no rewrite: a constant default).
    `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS watched boolean NOT NULL DEFAULT false;`,
    `CREATE INDEX IF NOT EXISTS ${index} ON ${table} (expires_at);`,
  ].join('\n');

  // Two processes running CREATE ... IF NOT EXISTS at once can still collide on the catalog's
  // unique indexes; a transaction-scoped advisory lock makes the second one wait and then skip.
  const setup = `SELECT pg_advisory_xact_lock(hashtext(${literal(`idemkit:setup:${lockName}`)}));\n${ddl}`;

  const notify = (key: string): string => `pg_notify(${literal(channel ?? '')}, ${key})`;

  // One statement decides the race. ON CONFLICT DO UPDATE locks the conflicting row even when its
  // WHERE is false, so of N concurrent callers exactly one sees the condition hold.
  //
  // `seen` first reads the key in the statement's snapshot. A row there that this claim may not
  // replace (live, and not an in-flight record of the same request whose lease lapsed) is the
  // answer as of that snapshot, which holds every write that committed before the statement began;
  // a claim at that instant loses to it, so the statement returns it without trying the INSERT.
  // Such a row changes only through its owner (complete, release, renew) or once its lease or life
  // span lapses, and a loser that reports the older version just waits (or replays) as it would
  // have had it arrived a moment earlier. That keeps the common loser, a replay, read-only: no row
  // lock, no transaction id, no WAL flush at commit, no queueing behind other callers' row locks.
  // Only a key that is absent or claimable in the snapshot goes on to the INSERT.
  //
  // When the INSERT takes nothing either, the row changed after the snapshot: a concurrent claim
  // inserted it, took it over, or replaced an expired record. Every branch then comes back empty
  // and the caller runs the statement again with a fresh snapshot, which sees that row (see
  // acquire()). Only losers of such races pay that second round trip. A branch that read the row
  // here instead (FOR SHARE follows the update chain) would spare it for takeovers only: a row
  // inserted after the snapshot is invisible even to FOR SHARE. Its cost fell on every claim:
  // ~12 µs of the ~90 µs a replay's statement takes (pgbench, prepared, one connection).
  //
  // The first branch notifies only when a waiter marked the row (see watch): a takeover of a
  // record someone waits on. A brand-new key has no mark, and replacing an expired record clears
  // it (whoever waited on that record is long gone).
  const claim = [
    `WITH seen AS (`,
    `  SELECT ${columns} FROM ${table}`,
    // The negation of the ON CONFLICT condition below (every column it reads is NOT NULL).
    `  WHERE key = $1 AND expires_at > $7`,
    `    AND NOT (state = 'in-flight' AND lease_until <= $7 AND fingerprint = $2)`,
    `), claimed AS (`,
    `  INSERT INTO ${table} AS r (key, fingerprint, state, token, lease_until, expires_at, created_at)`,
    `  SELECT $1, $2, 'in-flight', $3, $4, $5, $6 WHERE NOT EXISTS (SELECT FROM seen)`,
    `  ON CONFLICT (key) DO UPDATE SET`,
    `    fingerprint = excluded.fingerprint,`,
    `    state = 'in-flight',`,
    `    token = excluded.token,`,
    `    lease_until = excluded.lease_until,`,
    // A takeover keeps the record's life span; replacing an expired record starts a new one.
    `    expires_at = CASE WHEN r.expires_at <= $7 THEN excluded.expires_at ELSE r.expires_at END,`,
    `    created_at = CASE WHEN r.expires_at <= $7 THEN excluded.created_at ELSE r.created_at END,`,
    `    status = NULL, headers = NULL, body = NULL,`,
    `    watched = CASE WHEN r.expires_at <= $7 THEN false ELSE r.watched END`,
    `  WHERE r.expires_at <= $7`,
    `     OR (r.state = 'in-flight' AND r.lease_until <= $7 AND r.fingerprint = excluded.fingerprint)`,
    `  RETURNING ${columns}, watched`,
    `)`,
    `SELECT true AS acquired, ${columns},`,
    channel
      ? `  CASE WHEN claimed.watched THEN ${notify('claimed.key')} END AS notified`
      : `  NULL AS notified`,
    `FROM claimed`,
    `UNION ALL`,
    `SELECT false, ${columns}, NULL FROM seen`,
  ].join('\n');

  const fenced = `key = $1 AND token = $2 AND state = 'in-flight'`;
  // With notifications on, the write and its NOTIFY travel in one statement; NOTIFY is delivered at
  // commit, so a watcher never wakes before the change is visible. rowCount counts the changed rows.
  //
  // Only a row a waiter marked sends one. PostgreSQL serialises the commits of notifying
  // transactions, each through its WAL flush, on one lock per database, and delivers every
  // notification to every process listening on the channel: spent on every completion, that
  // capped the rate of completions for all processes at one WAL flush each (pgbench, 16 writers,
  // the same UPDATE: ~12,000 commits/s without NOTIFY, ~3,900 with). `watched` is read from the
  // row version the write locked, so a mark committed before it is always seen, and a mark
  // attempted after it finds the record no longer in flight and wakes its waiter at once.
  const withNotify = (write: string): string =>
    channel
      ? `WITH changed AS (${write} RETURNING key, watched) SELECT CASE WHEN watched THEN ${notify('key')} END FROM changed`
      : write;

  return {
    ddl,
    setup,
    claim,
    complete: withNotify(
      `UPDATE ${table} SET state = 'completed', status = $3, headers = $4, body = $5, expires_at = $6 WHERE ${fenced}`,
    ),
    release: withNotify(`DELETE FROM ${table} WHERE ${fenced}`),
    renew: `UPDATE ${table} SET lease_until = $3 WHERE ${fenced}`,
    get: `SELECT ${columns} FROM ${table} WHERE key = $1 AND expires_at > $2`,
    watch: `UPDATE ${table} SET watched = true WHERE key = $1 AND state = 'in-flight'`,
    // SKIP LOCKED: rows an acquire is working on are left for the next purge instead of waited for.
    // The outer expires_at test is re-checked against the latest row version, so a record that an
    // acquire replaced after the subquery picked it is never deleted.
    purge: [
      `DELETE FROM ${table} WHERE key IN (`,
      `  SELECT key FROM ${table} WHERE expires_at <= $1 LIMIT ${purgeBatchSize} FOR UPDATE SKIP LOCKED`,
      `) AND expires_at <= $1`,
    ].join('\n'),
  };
}

/** A SQL string literal; callers pass only validated identifier characters, so no escaping is lost. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
