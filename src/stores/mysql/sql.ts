/**
 * The SQL the MySQL/MariaDB store sends. The table name arrives validated and quoted; every value
 * is a placeholder. Only syntax that MariaDB 10.5+ and MySQL 8 both accept: no RETURNING, no
 * `VALUES()` in ON DUPLICATE KEY UPDATE (deprecated in MySQL) and no row alias (MariaDB lacks it);
 * values the update needs are passed again as placeholders instead.
 */

/** How many expired rows one purge statement deletes, so a purge never holds locks on millions of rows. */
export const purgeBatchSize = 1000;

/**
 * What a claim did, read from the statement's "insert id" (see `claim`): a fresh INSERT reports 0
 * (the table has no AUTO_INCREMENT column), the update branch reports what `LAST_INSERT_ID(n)` set.
 */
export const claimOutcome = { inserted: 0, lost: 1, tookOver: 2, replaced: 3 } as const;

export interface MysqlStatements {
  ddl: string;
  /** See `claimValues` for the placeholders. */
  claim: string;
  /** key, token, expiresAt, status, headers (JSON), body. */
  complete: string;
  /** key, token. */
  release: string;
  /** leaseUntil, key, token. Reports insert id 1 when the row matched (see renew below). */
  renew: string;
  /** key. The row whatever its expiry: a lost claim reports it as it found it. */
  read: string;
  /** key, now. */
  get: string;
  /** now. */
  purge: string;
}

const columns = 'fingerprint, state, token, lease_until, expires_at, created_at, status, headers, body';

export function mysqlStatements(table: string): MysqlStatements {
  const ddl = [
    `CREATE TABLE IF NOT EXISTS ${table} (`,
    // ascii_bin: keys, tokens and fingerprints are ASCII and compared byte for byte (the default
    // collations are case-insensitive, which would merge keys that differ only in case).
    '  `key` VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,',
    '  fingerprint VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,',
    "  state ENUM('in-flight', 'completed') NOT NULL,",
    '  token VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,',
    '  lease_until BIGINT NOT NULL,',
    '  expires_at BIGINT NOT NULL,',
    '  created_at BIGINT NOT NULL,',
    '  status SMALLINT NULL,',
    // Header pairs as JSON text (order and repeats kept); written ASCII-only (\u escapes), so the
    // connection's character set cannot alter it.
    '  headers LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,',
    '  body LONGBLOB NULL,',
    '  PRIMARY KEY (`key`),',
    '  INDEX idemkit_expires_at (expires_at)',
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
  ].join('\n');

  // The claim is one INSERT … ON DUPLICATE KEY UPDATE. InnoDB locks the conflicting row, so of N
  // concurrent callers the updates run one after another and exactly one finds the row claimable.
  //
  // The update must decide once, but MySQL evaluates the assignments left to right, each seeing the
  // columns assigned before it (MariaDB with SIMULTANEOUS_ASSIGNMENT sees the old values). So every
  // condition reads only columns not assigned yet, or ones whose change cannot flip it: `state` is
  // set before `lease_until`, but it changes only on a claim, where `claimable` stays true;
  // `fingerprint` and `expires_at` come last.
  //
  // The outcome leaves the statement through LAST_INSERT_ID(n), which the server returns as the
  // statement's insert id: 1 lost, 2 took over a lapsed lease, 3 replaced an expired record; a plain
  // INSERT reports 0. affectedRows cannot tell: with CLIENT_FOUND_ROWS (mysql2's default) an
  // unchanged duplicate reports 1, like an insert.
  const expired = 'expires_at <= ?';
  const claimable = `(expires_at <= ? OR (state = 'in-flight' AND lease_until <= ? AND fingerprint = ?))`;
  const claim = [
    `INSERT INTO ${table} (\`key\`, fingerprint, state, token, lease_until, expires_at, created_at)`,
    `VALUES (?, ?, 'in-flight', ?, ?, ?, ?)`,
    'ON DUPLICATE KEY UPDATE',
    `  token = IF(${claimable},`,
    `    IF(LAST_INSERT_ID(IF(${expired}, 3, 2)), ?, token),`,
    `    IF(LAST_INSERT_ID(1), token, token)),`,
    `  created_at = IF(${expired}, ?, created_at),`,
    `  status = IF(${expired}, NULL, status),`,
    `  headers = IF(${expired}, NULL, headers),`,
    `  body = IF(${expired}, NULL, body),`,
    `  state = IF(${claimable}, 'in-flight', state),`,
    `  lease_until = IF(${claimable}, ?, lease_until),`,
    `  fingerprint = IF(${expired}, ?, fingerprint),`,
    `  expires_at = IF(${expired}, ?, expires_at)`,
  ].join('\n');

  // Fenced by token and state. `state` always changes here, so affectedRows is 1 for the owner
  // whether or not the connection reports found rows.
  const complete = [
    `UPDATE ${table} SET state = 'completed', expires_at = ?, status = ?, headers = ?, body = ?`,
    `WHERE \`key\` = ? AND token = ? AND state = 'in-flight'`,
  ].join('\n');

  const release = `DELETE FROM ${table} WHERE \`key\` = ? AND token = ? AND state = 'in-flight'`;

  // Renewing to the same leaseUntil changes nothing, and without CLIENT_FOUND_ROWS affectedRows is
  // then 0 although the caller still owns the record; the LAST_INSERT_ID(1) marker says "matched".
  const renew = [
    `UPDATE ${table} SET lease_until = IF(LAST_INSERT_ID(1), ?, lease_until)`,
    `WHERE \`key\` = ? AND token = ? AND state = 'in-flight'`,
  ].join('\n');

  return {
    ddl,
    claim,
    complete,
    release,
    renew,
    read: `SELECT ${columns} FROM ${table} WHERE \`key\` = ?`,
    get: `SELECT ${columns} FROM ${table} WHERE \`key\` = ? AND expires_at > ?`,
    // A constant LIMIT: prepared-statement drivers disagree about a placeholder there.
    purge: `DELETE FROM ${table} WHERE expires_at <= ? LIMIT ${purgeBatchSize}`,
  };
}

/** The placeholders of `claim`, in order. */
export function claimValues(
  record: {
    key: string;
    fingerprint: string;
    token: string;
    leaseUntil: number;
    expiresAt: number;
    createdAt: number;
  },
  now: number,
): unknown[] {
  const claimable = [now, now, record.fingerprint];
  return [
    ...[record.key, record.fingerprint, record.token, record.leaseUntil, record.expiresAt, record.createdAt],
    ...[...claimable, now, record.token], // token
    ...[now, record.createdAt], // created_at
    ...[now, now, now], // status, headers, body
    ...claimable, // state
    ...[...claimable, record.leaseUntil], // lease_until
    ...[now, record.fingerprint], // fingerprint
    ...[now, record.expiresAt], // expires_at
  ];
}
