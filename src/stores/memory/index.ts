import { Buffer } from 'node:buffer';
import { asBuffer } from '../../core/bytes.js';
import type {
  AcquireResult,
  IdempotencyRecord,
  IdempotencyStore,
  NewRecord,
  StoredResponse,
} from '../../core/store.js';
import { CreationOrder } from './creation-order.js';

/**
 * A record as this store holds it: the record's fields, and once completed its response in three
 * fields of its own. A completed record is held for a day, so it is kept to few objects: the
 * collector visits every one on each full collection, and a store at its bound holds 100,000.
 * Held as `IdempotencyRecord` shapes it took ~19 objects and ~1 KB a record; see `heldHeaders`
 * and `heldBody` for what replaced them.
 */
interface HeldRecord extends Omit<IdempotencyRecord, 'response'> {
  /** 0 while in flight. */
  status: number;
  headers: string | Array<[string, string]>;
  body: string | Uint8Array | undefined;
}

/** Below this, `Buffer.from(string, 'latin1')` is served from Node's shared pool: reads stay cheap. */
const stringBodyBytes = Buffer.poolSize >>> 1;

/**
 * Bodies shorter than `stringBodyBytes` as a latin1 string (one char per byte, so any bytes
 * round-trip), longer ones as a copy of the bytes. A retained string is one object without
 * pointers; a retained copy is a typed array, an ArrayBuffer and its backing store, which the
 * collector tracks one by one. Filling a store with 75,000 records of ~100-byte bodies, the
 * collector took ~1.5 × as long per record that way (7 µs against 4.8), and the copy itself
 * 1.4 µs against 0.1. The copy matters: the caller's buffers may be pooled and reused.
 */
function heldBody(body: Uint8Array): string | Uint8Array {
  return body.byteLength < stringBodyBytes
    ? asBuffer(body).toString('latin1')
    : Uint8Array.prototype.slice.call(body);
}

/**
 * Header pairs as one string, `name NUL value NUL name NUL value`: one object where an array of
 * pairs is two per pair plus the list. Node refuses to send a header holding a NUL, but a store
 * takes what it is given: pairs that hold one are kept as a copied list.
 */
function heldHeaders(pairs: ReadonlyArray<readonly [string, string]>): string | Array<[string, string]> {
  const parts: string[] = [];
  for (const [name, value] of pairs) {
    if (name.includes('\0') || value.includes('\0')) return pairs.map(([n, v]) => [n, v]);
    parts.push(name, value);
  }
  return parts.join('\0');
}

function headerList(held: string | Array<[string, string]>): Array<[string, string]> {
  if (typeof held !== 'string') return held.map(([name, value]) => [name, value]);
  const pairs: Array<[string, string]> = [];
  if (held === '') return pairs;
  const parts = held.split('\0');
  for (let i = 0; i + 1 < parts.length; i += 2) pairs.push([parts[i]!, parts[i + 1]!]);
  return pairs;
}

export interface MemoryStoreOptions {
  /**
   * Most records kept at once (default 100 000). When full, expired records go first, then the
   * oldest completed ones (a retry of an evicted key runs again). In-flight records are never
   * evicted: a store full of them refuses new claims, which the engine answers with 503.
   */
  maxEntries?: number;
}

/**
 * A store in this process's memory: for tests, single-process servers and development. Nothing
 * survives a restart and nothing is shared between processes.
 *
 * @example
 * ```ts
 * import { createIdempotency } from 'idemkit';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const engine = createIdempotency({ store: memoryStore() });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): IdempotencyStore {
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(
      `memoryStore: maxEntries must be a positive integer, got ${String(options.maxEntries)}`,
    );
  }
  const records = new Map<string, HeldRecord>();
  // Oldest first: what expiry and eviction take from.
  const order = new CreationOrder(records);
  const watchers = new Map<string, Set<() => void>>();

  function changed(key: string): void {
    const listeners = watchers.get(key);
    if (!listeners) return;
    watchers.delete(key);
    for (const listener of listeners) listener();
  }

  /**
   * A copy for the caller, so nothing it does reaches the store. Written out, not spread: every
   * record then has one shape, which keeps this and the engine's reads of it monomorphic.
   */
  function snapshot(record: HeldRecord): IdempotencyRecord {
    const { body } = record;
    return {
      key: record.key,
      fingerprint: record.fingerprint,
      state: record.state,
      token: record.token,
      leaseUntil: record.leaseUntil,
      expiresAt: record.expiresAt,
      createdAt: record.createdAt,
      response:
        body === undefined
          ? undefined
          : {
              status: record.status,
              headers: headerList(record.headers),
              body: typeof body === 'string' ? Buffer.from(body, 'latin1') : body,
            },
    };
  }

  function ownedInFlight(key: string, token: string): HeldRecord | undefined {
    const record = records.get(key);
    return record?.state === 'in-flight' && record.token === token ? record : undefined;
  }

  function makeRoom(now: number): void {
    // Expired records leave from the front, oldest first.
    for (let record = order.oldest(); record && record.expiresAt <= now; record = order.oldest()) {
      order.shift();
      records.delete(record.key);
    }
    if (records.size < maxEntries) return;
    // Full: evict the oldest completed record. In-flight ones go to the back of the queue, so
    // a claim held for long is not walked past again by every eviction after it.
    for (let tries = order.length; tries > 0; tries--) {
      const record = order.oldest();
      if (!record) break;
      order.shift();
      if (record.state === 'completed' || record.expiresAt <= now) {
        records.delete(record.key);
        return;
      }
      order.add(record);
    }
    throw new Error(`memoryStore is full: ${maxEntries} requests are in flight (raise maxEntries)`);
  }

  return {
    acquire(candidate: NewRecord, now: number): AcquireResult {
      const existing = records.get(candidate.key);
      if (existing && existing.expiresAt > now) {
        const takeover =
          existing.state === 'in-flight' &&
          existing.leaseUntil <= now &&
          existing.fingerprint === candidate.fingerprint;
        if (!takeover) return { acquired: false, record: snapshot(existing) };
        existing.token = candidate.token;
        existing.leaseUntil = candidate.leaseUntil;
        changed(candidate.key);
        return { acquired: true, record: snapshot(existing) };
      }
      if (existing) records.delete(candidate.key);
      makeRoom(now);
      const record: HeldRecord = {
        key: candidate.key,
        fingerprint: candidate.fingerprint,
        state: 'in-flight',
        token: candidate.token,
        leaseUntil: candidate.leaseUntil,
        expiresAt: candidate.expiresAt,
        createdAt: candidate.createdAt,
        status: 0,
        headers: '',
        body: undefined,
      };
      records.set(candidate.key, record);
      order.add(record);
      return { acquired: true, record: snapshot(record) };
    },

    complete(key: string, token: string, response: StoredResponse, expiresAt: number): boolean {
      const record = ownedInFlight(key, token);
      if (!record) return false;
      record.state = 'completed';
      record.expiresAt = expiresAt;
      record.status = response.status;
      record.headers = heldHeaders(response.headers);
      record.body = heldBody(response.body);
      changed(key);
      return true;
    },

    release(key: string, token: string): boolean {
      if (!ownedInFlight(key, token)) return false;
      records.delete(key);
      changed(key);
      return true;
    },

    renew(key: string, token: string, leaseUntil: number): boolean {
      const record = ownedInFlight(key, token);
      if (!record) return false;
      record.leaseUntil = leaseUntil;
      return true;
    },

    get(key: string, now: number): IdempotencyRecord | null {
      const record = records.get(key);
      return record && record.expiresAt > now ? snapshot(record) : null;
    },

    purgeExpired(now: number): number {
      let purged = 0;
      for (const [key, record] of records) {
        if (record.expiresAt > now) continue;
        records.delete(key);
        purged++;
      }
      return purged;
    },

    watch(key: string, signal: AbortSignal): Promise<void> {
      return new Promise((resolve) => {
        if (signal.aborted) return resolve();
        const listeners = watchers.get(key) ?? new Set();
        watchers.set(key, listeners);
        const done = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          listeners.delete(done);
          if (listeners.size === 0 && watchers.get(key) === listeners) watchers.delete(key);
          resolve();
        };
        listeners.add(done);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
