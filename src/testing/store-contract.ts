import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IdempotencyRecord, IdempotencyStore, NewRecord, StoredResponse } from '../core/store.js';
import { defineCase, type SuiteFunctions } from './suite.js';

/** The names of the cases `runStoreContract` runs; name one in `skip` (with the reason) to opt out. */
export const storeContractCases = [
  'acquire claims a free key',
  'acquire loses to a live record and returns it unchanged',
  'exactly one of many concurrent acquires wins',
  'acquire takes over a lapsed lease with the same fingerprint, keeping expiresAt',
  'acquire never takes over a lapsed lease with another fingerprint',
  'exactly one of many concurrent takeovers wins',
  'acquire never takes over a completed record',
  'acquire replaces an expired record',
  'exactly one of many concurrent replacements of an expired record wins',
  'complete stores the response byte for byte',
  'complete stores a 1 MiB body',
  'complete and release fence off a stale token',
  'complete acts only on in-flight records',
  'release deletes the record only for its owner',
  'renew extends the lease only for its owner',
  'get hides expired records',
  'purgeExpired physically deletes expired records and keeps live ones',
  'keys are independent',
  'watch resolves when the record changes',
] as const;

export type StoreContractCase = (typeof storeContractCases)[number];

export interface StoreContractOptions extends SuiteFunctions {
  /** Shown in the suite's title. */
  name: string;
  /** A ready store. Called once per case; returning the same instance is fine (keys never repeat). */
  createStore: () => IdempotencyStore | Promise<IdempotencyStore>;
  /** Cases to skip, each with the reason it does not apply to this store. */
  skip?: Partial<Record<StoreContractCase, string>>;
  /** How many callers race in the concurrency cases (default 50). */
  racers?: number;
}

const lease = 30_000;
const ttl = 86_400_000;

/**
 * Prove that a store keeps the store contract: atomic claims, fencing, expiry by the caller's clock.
 * Runs under any test runner that has `describe` and `it` (node:test, vitest, jest, mocha).
 *
 * @example
 * ```ts
 * import { describe, it } from 'node:test';
 * import { runStoreContract } from 'idemkit/testing';
 *
 * runStoreContract({ name: 'my-store', createStore: () => myStore(client), describe, it });
 * ```
 */
export function runStoreContract(options: StoreContractOptions): void {
  const { describe, it, skip = {}, racers = 50 } = options;
  const cases: Record<StoreContractCase, (store: IdempotencyStore) => Promise<void>> = {
    async 'acquire claims a free key'(store) {
      const record = newRecord();
      const result = await store.acquire(record, record.createdAt);
      assert.equal(result.acquired, true);
      assertRecord(result.record, { ...record, state: 'in-flight' });
      assertRecord(await store.get(record.key, record.createdAt), { ...record, state: 'in-flight' });
    },

    async 'acquire loses to a live record and returns it unchanged'(store) {
      const first = newRecord();
      await claim(store, first);
      const second = { ...newRecord({ key: first.key }), fingerprint: first.fingerprint };
      const result = await store.acquire(second, first.createdAt + 1000);
      assert.equal(result.acquired, false);
      assertRecord(result.record, { ...first, state: 'in-flight' });
    },

    async 'exactly one of many concurrent acquires wins'(store) {
      const key = uniqueKey();
      const now = Date.now();
      const contenders = Array.from({ length: racers }, () => newRecord({ key, createdAt: now }));
      const results = await Promise.all(contenders.map((record) => store.acquire(record, now)));
      const winners = results.filter((result) => result.acquired);
      assert.equal(winners.length, 1, `${winners.length} of ${racers} concurrent acquires won`);
      const winnerToken = winners[0]!.record.token;
      for (const result of results) assert.equal(result.record.token, winnerToken);
      assert.equal((await store.get(key, now))?.token, winnerToken);
    },

    async 'acquire takes over a lapsed lease with the same fingerprint, keeping expiresAt'(store) {
      const first = newRecord();
      await claim(store, first);
      const later = first.leaseUntil + 1;
      const retry = newRecord({
        key: first.key,
        fingerprint: first.fingerprint,
        createdAt: later,
        leaseUntil: later + lease,
        expiresAt: later + ttl,
      });
      const result = await store.acquire(retry, later);
      assert.equal(result.acquired, true, 'a lapsed lease must be taken over');
      assert.equal(result.record.token, retry.token);
      assert.equal(result.record.leaseUntil, retry.leaseUntil);
      assert.equal(result.record.expiresAt, first.expiresAt, 'a takeover must not extend the record');
      assert.equal(result.record.createdAt, first.createdAt);
      assert.equal((await store.get(first.key, later))?.token, retry.token);
    },

    async 'acquire never takes over a lapsed lease with another fingerprint'(store) {
      const first = newRecord();
      await claim(store, first);
      const later = first.leaseUntil + 1;
      const other = newRecord({ key: first.key, createdAt: later, leaseUntil: later + lease });
      const result = await store.acquire(other, later);
      assert.equal(result.acquired, false);
      assertRecord(result.record, { ...first, state: 'in-flight' });
    },

    async 'exactly one of many concurrent takeovers wins'(store) {
      const first = newRecord();
      await claim(store, first);
      const later = first.leaseUntil + 1;
      const contenders = Array.from({ length: racers }, () =>
        newRecord({
          key: first.key,
          fingerprint: first.fingerprint,
          createdAt: later,
          leaseUntil: later + lease,
        }),
      );
      const results = await Promise.all(contenders.map((record) => store.acquire(record, later)));
      const winners = results.filter((result) => result.acquired);
      assert.equal(winners.length, 1, `${winners.length} of ${racers} concurrent takeovers won`);
      // Losers whose claim ran before the takeover committed must still report the new owner.
      const winnerToken = winners[0]!.record.token;
      for (const result of results) assert.equal(result.record.token, winnerToken);
      assert.equal(await store.complete(first.key, first.token, sampleResponse(), first.expiresAt), false);
    },

    async 'acquire never takes over a completed record'(store) {
      const first = newRecord();
      await claim(store, first);
      assert.equal(await store.complete(first.key, first.token, sampleResponse(), first.expiresAt), true);
      const later = first.leaseUntil + 1;
      const retry = newRecord({ key: first.key, fingerprint: first.fingerprint, createdAt: later });
      const result = await store.acquire(retry, later);
      assert.equal(result.acquired, false);
      assert.equal(result.record.state, 'completed');
      assert.equal(result.record.token, first.token);
      assertResponse(result.record.response, sampleResponse());
    },

    async 'acquire replaces an expired record'(store) {
      const first = newRecord();
      await claim(store, first);
      assert.equal(await store.complete(first.key, first.token, sampleResponse(), first.expiresAt), true);
      const later = first.expiresAt;
      const fresh = newRecord({
        key: first.key,
        createdAt: later,
        leaseUntil: later + lease,
        expiresAt: later + ttl,
      });
      const result = await store.acquire(fresh, later);
      assert.equal(result.acquired, true, 'an expired record is free to claim, whatever its fingerprint');
      assertRecord(result.record, { ...fresh, state: 'in-flight' });
      assert.equal(result.record.response, undefined);
    },

    async 'exactly one of many concurrent replacements of an expired record wins'(store) {
      const first = newRecord();
      await claim(store, first);
      assert.equal(await store.complete(first.key, first.token, sampleResponse(), first.expiresAt), true);
      const later = first.expiresAt + 1;
      // Each with its own fingerprint: an expired record is free whatever the new request is.
      const contenders = Array.from({ length: racers }, () =>
        newRecord({ key: first.key, createdAt: later, leaseUntil: later + lease, expiresAt: later + ttl }),
      );
      const results = await Promise.all(contenders.map((record) => store.acquire(record, later)));
      const winners = results.filter((result) => result.acquired);
      assert.equal(winners.length, 1, `${winners.length} of ${racers} concurrent replacements won`);
      const winner = winners[0]!.record;
      assert.equal(winner.expiresAt, later + ttl, 'a replacement starts a new life span');
      for (const result of results) assert.equal(result.record.token, winner.token);
      assert.equal((await store.get(first.key, later))?.token, winner.token);
    },

    async 'complete stores the response byte for byte'(store) {
      const record = newRecord();
      await claim(store, record);
      const response: StoredResponse = {
        status: 201,
        headers: [
          ['location', '/v1/charges/ch_1'],
          ['x-custom', 'a, b; c="d"'],
          ['link', '</a>; rel="a"'],
          ['link', '</b>; rel="b"'],
          ['content-type', 'application/octet-stream'],
        ],
        body: Uint8Array.from({ length: 512 }, (_, i) => i % 256),
      };
      const completedUntil = record.expiresAt + 5;
      assert.equal(await store.complete(record.key, record.token, response, completedUntil), true);
      const stored = await store.get(record.key, record.createdAt + 1);
      assert.ok(stored, 'the completed record must be readable');
      assert.equal(stored.state, 'completed');
      assert.equal(stored.fingerprint, record.fingerprint);
      assert.equal(stored.expiresAt, completedUntil);
      assertResponse(stored.response, response);

      const empty = newRecord();
      await claim(store, empty);
      const noContent: StoredResponse = { status: 204, headers: [], body: new Uint8Array() };
      assert.equal(await store.complete(empty.key, empty.token, noContent, empty.expiresAt), true);
      assertResponse((await store.get(empty.key, empty.createdAt))?.response, noContent);
    },

    async 'complete stores a 1 MiB body'(store) {
      const record = newRecord();
      await claim(store, record);
      const body = new Uint8Array(1024 * 1024);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7919) % 251;
      const response: StoredResponse = { status: 200, headers: [['content-type', 'text/plain']], body };
      assert.equal(await store.complete(record.key, record.token, response, record.expiresAt), true);
      assertResponse((await store.get(record.key, record.createdAt))?.response, response);
    },

    async 'complete and release fence off a stale token'(store) {
      const first = newRecord();
      await claim(store, first);
      const later = first.leaseUntil + 1;
      const second = newRecord({
        key: first.key,
        fingerprint: first.fingerprint,
        createdAt: later,
        leaseUntil: later + lease,
      });
      assert.equal((await store.acquire(second, later)).acquired, true);

      const stale: StoredResponse = { status: 200, headers: [], body: new TextEncoder().encode('stale') };
      assert.equal(await store.complete(first.key, first.token, stale, first.expiresAt), false);
      assert.equal(await store.release(first.key, first.token), false);
      assert.equal(await store.renew(first.key, first.token, later + 2 * lease), false);
      const current = await store.get(first.key, later);
      assert.equal(current?.state, 'in-flight', 'a stale owner must not complete the new owner’s record');
      assert.equal(current?.token, second.token);
      assert.equal(current?.leaseUntil, second.leaseUntil);

      assert.equal(await store.complete(first.key, second.token, sampleResponse(), first.expiresAt), true);
      assertResponse((await store.get(first.key, later))?.response, sampleResponse());
    },

    async 'complete acts only on in-flight records'(store) {
      const record = newRecord();
      await claim(store, record);
      assert.equal(await store.complete(record.key, record.token, sampleResponse(), record.expiresAt), true);
      const second: StoredResponse = { status: 500, headers: [], body: new Uint8Array([1]) };
      assert.equal(await store.complete(record.key, record.token, second, record.expiresAt), false);
      assert.equal(
        await store.release(record.key, record.token),
        false,
        'a completed record is never released',
      );
      assertResponse((await store.get(record.key, record.createdAt))?.response, sampleResponse());
      assert.equal(
        await store.complete(uniqueKey(), randomUUID(), sampleResponse(), record.expiresAt),
        false,
      );
    },

    async 'release deletes the record only for its owner'(store) {
      const record = newRecord();
      await claim(store, record);
      assert.equal(await store.release(record.key, randomUUID()), false);
      assert.ok(await store.get(record.key, record.createdAt), 'a wrong token must not release');
      assert.equal(await store.release(record.key, record.token), true);
      assert.equal(await store.get(record.key, record.createdAt), null);
      assert.equal(await store.release(record.key, record.token), false);
      const again = newRecord({ key: record.key });
      assert.equal((await store.acquire(again, record.createdAt)).acquired, true, 'a released key is free');
    },

    async 'renew extends the lease only for its owner'(store) {
      const record = newRecord();
      await claim(store, record);
      const extended = record.leaseUntil + 60_000;
      assert.equal(await store.renew(record.key, randomUUID(), extended), false);
      assert.equal((await store.get(record.key, record.createdAt))?.leaseUntil, record.leaseUntil);
      assert.equal(await store.renew(record.key, record.token, extended), true);
      assert.equal((await store.get(record.key, record.createdAt))?.leaseUntil, extended);
      const contender = newRecord({ key: record.key, fingerprint: record.fingerprint });
      const result = await store.acquire(contender, record.leaseUntil + 1);
      assert.equal(result.acquired, false, 'a renewed lease is not lapsed');
      assert.equal(await store.complete(record.key, record.token, sampleResponse(), record.expiresAt), true);
      assert.equal(
        await store.renew(record.key, record.token, extended + 1),
        false,
        'completed records have no lease',
      );
      assert.equal(await store.renew(uniqueKey(), record.token, extended), false);
    },

    async 'get hides expired records'(store) {
      assert.equal(await store.get(uniqueKey(), Date.now()), null);
      const inFlight = newRecord();
      await claim(store, inFlight);
      assert.ok(await store.get(inFlight.key, inFlight.expiresAt - 1));
      assert.equal(await store.get(inFlight.key, inFlight.expiresAt), null);

      const completed = newRecord();
      await claim(store, completed);
      assert.equal(
        await store.complete(completed.key, completed.token, sampleResponse(), completed.expiresAt),
        true,
      );
      assert.ok(await store.get(completed.key, completed.expiresAt - 1));
      assert.equal(await store.get(completed.key, completed.expiresAt), null);
      assert.equal(await store.get(completed.key, completed.expiresAt + ttl), null);
    },

    async 'purgeExpired physically deletes expired records and keeps live ones'(store) {
      const now = Date.now();
      const expired = [
        newRecord({ createdAt: now, expiresAt: now + 1000 }),
        newRecord({ createdAt: now, expiresAt: now + 1000 }),
      ];
      const live = newRecord({ createdAt: now, expiresAt: now + ttl });
      for (const record of [...expired, live]) await claim(store, record);
      assert.equal(
        await store.complete(expired[0]!.key, expired[0]!.token, sampleResponse(), now + 1000),
        true,
      );
      const purged = await store.purgeExpired(now + 2000);
      assert.ok(
        purged >= expired.length,
        `purgeExpired reported ${purged}, expected at least ${expired.length}`,
      );
      // Asked with a clock from before their expiry, a record still in storage would show up.
      for (const record of expired)
        assert.equal(await store.get(record.key, now), null, 'expired record still stored');
      assert.ok(await store.get(live.key, now + 2000), 'purgeExpired deleted a live record');
    },

    async 'keys are independent'(store) {
      const a = newRecord();
      const b = newRecord();
      await claim(store, a);
      await claim(store, b);
      assert.equal(await store.complete(a.key, a.token, sampleResponse(), a.expiresAt), true);
      assert.equal((await store.get(b.key, b.createdAt))?.state, 'in-flight');
      assert.equal(await store.release(b.key, b.token), true);
      assert.equal((await store.get(a.key, a.createdAt))?.state, 'completed');
    },

    async 'watch resolves when the record changes'(store) {
      assert.ok(store.watch, 'this store has no watch(); skip this case with that reason');
      const watch = store.watch.bind(store);
      // Warm up: a store may wake its first watcher once while it connects (changes made meanwhile
      // were not heard), which is allowed; after that, only a change may wake a watcher. The warm-up
      // watches the record's own key: a sharded store connects per shard, and a change made before
      // that connection is up is a lost hint (allowed), which would make this case a race.
      const record = newRecord();
      const warmUp = new AbortController();
      const warming = watch(record.key, warmUp.signal);
      await sleep(200);
      warmUp.abort();
      await warming.catch(() => undefined);

      await claim(store, record);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 5000);
      try {
        let woke = false;
        const changed = watch(record.key, controller.signal).then(() => {
          woke = true;
          return !controller.signal.aborted;
        });
        await sleep(100);
        assert.equal(woke, false, 'watch resolved although nothing changed');
        assert.equal(
          await store.complete(record.key, record.token, sampleResponse(), record.expiresAt),
          true,
        );
        assert.equal(await changed, true, 'watch did not resolve within 5 s of complete()');
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
      const aborted = new AbortController();
      const pending = watch(uniqueKey(), aborted.signal);
      aborted.abort();
      await pending.catch(() => undefined);
    },
  };

  describe(`store contract: ${options.name}`, () => {
    for (const name of storeContractCases) {
      defineCase(it, name, skip[name], async () => cases[name](await options.createStore()));
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function uniqueKey(): string {
  return `contract:${randomUUID()}`;
}

function newRecord(overrides: Partial<NewRecord> = {}): NewRecord {
  const createdAt = overrides.createdAt ?? Date.now();
  return {
    key: uniqueKey(),
    fingerprint: randomUUID().replaceAll('-', ''),
    token: randomUUID(),
    createdAt,
    leaseUntil: createdAt + lease,
    expiresAt: createdAt + ttl,
    ...overrides,
  };
}

async function claim(store: IdempotencyStore, record: NewRecord): Promise<void> {
  const result = await store.acquire(record, record.createdAt);
  assert.equal(result.acquired, true, 'could not claim a fresh key');
}

function sampleResponse(): StoredResponse {
  return {
    status: 201,
    headers: [
      ['content-type', 'application/json'],
      ['location', '/v1/things/1'],
    ],
    body: new TextEncoder().encode('{"id":"thing_1","note":"héllo ✓"}'),
  };
}

function assertRecord(actual: IdempotencyRecord | null, expected: Omit<IdempotencyRecord, 'response'>): void {
  assert.ok(actual, 'expected a record');
  for (const field of [
    'key',
    'fingerprint',
    'state',
    'token',
    'leaseUntil',
    'expiresAt',
    'createdAt',
  ] as const) {
    assert.equal(actual[field], expected[field], `record.${field}`);
  }
}

function assertResponse(actual: StoredResponse | undefined, expected: StoredResponse): void {
  assert.ok(actual, 'expected a stored response');
  assert.equal(actual.status, expected.status);
  assert.deepEqual(actual.headers, expected.headers);
  assert.ok(actual.body instanceof Uint8Array, 'body must be a Uint8Array');
  assert.equal(Buffer.compare(Buffer.from(actual.body), Buffer.from(expected.body)), 0, 'body bytes differ');
}
