import type { IdempotencyRecord, RecordState } from '../../core/store.js';

/** A row as node-postgres returns it: bigint arrives as a string, jsonb parsed, bytea as a Buffer. */
export interface RecordRow {
  key: string;
  fingerprint: string;
  state: RecordState;
  token: string;
  lease_until: string | number;
  expires_at: string | number;
  created_at: string | number;
  status: number | null;
  /** Parsed jsonb, or its text when the driver leaves jsonb unparsed. */
  headers: Array<[string, string]> | string | null;
  body: Uint8Array | null;
}

export function toRecord(row: RecordRow): IdempotencyRecord {
  const record: IdempotencyRecord = {
    key: row.key,
    fingerprint: row.fingerprint,
    state: row.state,
    token: row.token,
    // Unix milliseconds stay far below 2^53, so Number() is exact.
    leaseUntil: Number(row.lease_until),
    expiresAt: Number(row.expires_at),
    createdAt: Number(row.created_at),
  };
  if (row.state === 'completed' && row.status !== null) {
    const headers = typeof row.headers === 'string' ? JSON.parse(row.headers) : row.headers;
    record.response = { status: row.status, headers: headers ?? [], body: row.body ?? new Uint8Array() };
  }
  return record;
}
