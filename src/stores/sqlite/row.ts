import type { IdempotencyRecord, RecordState } from '../../core/store.js';

/** A row as better-sqlite3 (or node:sqlite) returns it: BLOBs as Buffer / Uint8Array. */
export interface RecordRow {
  key: string;
  fingerprint: string;
  state: RecordState;
  token: string;
  lease_until: number | bigint;
  expires_at: number | bigint;
  created_at: number | bigint;
  status: number | bigint | null;
  /** JSON array of [name, value] pairs: an array keeps order and repeated names. */
  headers: string | null;
  body: Uint8Array | null;
}

export function toRecord(row: RecordRow): IdempotencyRecord {
  const record: IdempotencyRecord = {
    key: row.key,
    fingerprint: row.fingerprint,
    state: row.state,
    token: row.token,
    // Number() also accepts the bigint a driver returns in "safe integers" mode.
    leaseUntil: Number(row.lease_until),
    expiresAt: Number(row.expires_at),
    createdAt: Number(row.created_at),
  };
  if (row.state === 'completed' && row.status !== null) {
    record.response = {
      status: Number(row.status),
      headers: row.headers ? JSON.parse(row.headers) : [],
      body: row.body ?? new Uint8Array(),
    };
  }
  return record;
}
