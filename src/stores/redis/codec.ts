import { asBuffer } from '../../core/bytes.js';
import type { IdempotencyRecord, StoredResponse } from '../../core/store.js';

/**
 * How a record is laid out in its Redis hash, and back. Replies are requested as Buffers so the
 * body survives byte for byte (a string reply would be UTF-8 decoded and mangle binary bodies).
 *
 * Hash fields: state, fingerprint, token, leaseUntil, expiresAt, createdAt (decimal ms) and, once
 * completed, status, headers (the pairs as JSON, so order and repeats survive) and body (raw bytes).
 */

export function headersArgument(headers: StoredResponse['headers']): string {
  return JSON.stringify(headers);
}

/** Decode HGETALL's flat [field, value, field, value, …] reply into a record. */
export function decodeRecord(key: string, flat: readonly unknown[]): IdempotencyRecord {
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    fields.set(text(flat[i]), replyBuffer(flat[i + 1]));
  }
  const field = (name: string): Buffer => {
    const value = fields.get(name);
    if (value === undefined) throw new Error(`redisStore: record ${key} has no ${name} field`);
    return value;
  };
  const number = (name: string): number => {
    const value = Number(text(field(name)));
    if (!Number.isFinite(value)) throw new Error(`redisStore: record ${key} has a malformed ${name}`);
    return value;
  };

  const state = text(field('state'));
  if (state !== 'in-flight' && state !== 'completed') {
    throw new Error(`redisStore: record ${key} has an unknown state ${JSON.stringify(state)}`);
  }
  const record: IdempotencyRecord = {
    key,
    fingerprint: text(field('fingerprint')),
    state,
    token: text(field('token')),
    leaseUntil: number('leaseUntil'),
    expiresAt: number('expiresAt'),
    createdAt: number('createdAt'),
  };
  if (state === 'completed') {
    const body = field('body');
    record.response = {
      status: number('status'),
      headers: JSON.parse(field('headers').toString('utf8')) as StoredResponse['headers'],
      body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    };
  }
  return record;
}

function replyBuffer(value: unknown): Buffer {
  if (value instanceof Uint8Array) return asBuffer(value);
  // A string here means the client decoded the reply as UTF-8, which mangles binary bodies.
  throw new TypeError(
    `redisStore: expected a Buffer reply, got ${typeof value}; pass an ioredis client or fromNodeRedis(client)`,
  );
}

function text(value: unknown): string {
  return replyBuffer(value).toString('utf8');
}
