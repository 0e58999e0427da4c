import type { IdempotencyRecord, RecordState, StoredResponse } from './store.js';

/**
 * Shared by the SQL stores: the one table layout they all use, read back into a record, and the
 * table-name rule they all enforce.
 */

/** A row of the records table as SQL drivers return it (integers may arrive as bigint or text). */
export interface RecordRow {
  /** Absent where the store selects it out (it already knows the key). */
  key?: string;
  fingerprint: string;
  state: RecordState;
  token: string;
  lease_until: number | bigint | string;
  expires_at: number | bigint | string;
  created_at: number | bigint | string;
  status: number | bigint | string | null;
  /** JSON array of [name, value] pairs (an array keeps order and repeated names), or already parsed. */
  headers: StoredResponse['headers'] | string | null;
  body: Uint8Array | null;
}

/** The record a row holds. Unix milliseconds stay far below 2^53, so Number() is exact. */
export function recordFromRow(row: RecordRow, key = row.key ?? ''): IdempotencyRecord {
  const record: IdempotencyRecord = {
    key,
    fingerprint: row.fingerprint,
    state: row.state,
    token: row.token,
    leaseUntil: Number(row.lease_until),
    expiresAt: Number(row.expires_at),
    createdAt: Number(row.created_at),
  };
  if (row.state === 'completed' && row.status !== null) {
    const headers =
      typeof row.headers === 'string' ? (JSON.parse(row.headers) as StoredResponse['headers']) : row.headers;
    record.response = {
      status: Number(row.status),
      headers: headers ?? [],
      body: row.body ?? new Uint8Array(),
    };
  }
  return record;
}

/**
 * The parts of a table name, `name` or (where the database has them) `qualifier.name`, each an
 * identifier of at most `maxLength` characters. Validated, never escaped: names go into SQL text.
 */
export function parseTableName(
  table: unknown,
  rule: { store: string; qualifier?: string; maxLength: number },
): string[] {
  const parts = typeof table === 'string' ? table.split('.') : [];
  const identifier = new RegExp(`^[A-Za-z_][A-Za-z0-9_]{0,${rule.maxLength - 1}}$`);
  const maxParts = rule.qualifier ? 2 : 1;
  if (parts.length < 1 || parts.length > maxParts || !parts.every((part) => identifier.test(part))) {
    const shape = rule.qualifier ? `"name" or "${rule.qualifier}.name", each` : 'a name of';
    throw new TypeError(
      `${rule.store}: table must be ${shape} 1-${rule.maxLength} letters, digits or _ not starting with a digit; got ${JSON.stringify(table)}`,
    );
  }
  return parts;
}
