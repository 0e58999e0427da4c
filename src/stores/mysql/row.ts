import type { IdempotencyRecord, StoredResponse } from '../../core/store.js';

/**
 * A row as mysql2 returns it: BIGINT as a number (or a string with `supportBigNumbers` and
 * `bigNumberStrings`), LONGBLOB as a Buffer, LONGTEXT as a string.
 */
export interface RecordRow {
  fingerprint: string;
  state: 'in-flight' | 'completed';
  token: string;
  lease_until: number | string;
  expires_at: number | string;
  created_at: number | string;
  status: number | null;
  headers: string | null;
  body: Uint8Array | null;
}

export function toRecord(key: string, row: RecordRow): IdempotencyRecord {
  const record: IdempotencyRecord = {
    key,
    fingerprint: row.fingerprint,
    state: row.state,
    token: row.token,
    // Unix milliseconds stay far below 2^53, so Number() is exact.
    leaseUntil: Number(row.lease_until),
    expiresAt: Number(row.expires_at),
    createdAt: Number(row.created_at),
  };
  if (row.state === 'completed' && row.status !== null) {
    record.response = {
      status: Number(row.status),
      headers: row.headers === null ? [] : (JSON.parse(row.headers) as StoredResponse['headers']),
      body: row.body ?? new Uint8Array(),
    };
  }
  return record;
}

/**
 * Header pairs as JSON with every non-ASCII character escaped (`\u00e9`), so the text survives
 * any ASCII-compatible connection character set unchanged; JSON.parse restores it exactly.
 */
export function headersJson(headers: StoredResponse['headers']): string {
  return JSON.stringify(headers).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
