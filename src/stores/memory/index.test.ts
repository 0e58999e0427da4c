import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runStoreContract } from '../../testing/index.js';
import { memoryStore } from './index.js';

runStoreContract({ name: 'memory', createStore: () => memoryStore(), describe, it });

describe('memoryStore bounds', () => {
  it('evicts the oldest completed record when full, never an in-flight one', async () => {
    const store = memoryStore({ maxEntries: 2 });
    const base = { fingerprint: 'f', createdAt: 0, leaseUntil: 100, expiresAt: 1000 };
    await store.acquire({ ...base, key: 'a', token: 'ta' }, 0);
    await store.acquire({ ...base, key: 'b', token: 'tb' }, 0);
    assert.equal(
      await store.complete('b', 'tb', { status: 200, headers: [], body: new Uint8Array() }, 1000),
      true,
    );
    assert.equal((await store.acquire({ ...base, key: 'c', token: 'tc' }, 1)).acquired, true);
    assert.equal(await store.get('b', 1), null, 'the completed record is evicted');
    assert.equal((await store.get('a', 1))?.state, 'in-flight', 'the in-flight record stays');
    assert.throws(() => store.acquire({ ...base, key: 'd', token: 'td' }, 1), /full/);
  });

  it('drops expired records before evicting live ones', async () => {
    const store = memoryStore({ maxEntries: 1 });
    await store.acquire(
      { key: 'old', token: 't', fingerprint: 'f', createdAt: 0, leaseUntil: 5, expiresAt: 10 },
      0,
    );
    const fresh = { key: 'new', token: 'u', fingerprint: 'f', createdAt: 10, leaseUntil: 15, expiresAt: 20 };
    assert.equal((await store.acquire(fresh, 10)).acquired, true);
    assert.equal(await store.get('old', 0), null);
  });

  it('evicts by creation order, skipping records that were released or replaced', async () => {
    const store = memoryStore({ maxEntries: 2 });
    const done = { status: 200, headers: [], body: new Uint8Array() };
    await store.acquire(
      { key: 'a', token: 'a1', fingerprint: 'f', createdAt: 0, leaseUntil: 5, expiresAt: 10 },
      0,
    );
    await store.acquire(
      { key: 'b', token: 'b1', fingerprint: 'f', createdAt: 5, leaseUntil: 9, expiresAt: 1000 },
      5,
    );
    await store.complete('b', 'b1', done, 1000);
    // 'a' expired; claimed anew it is now the youngest record, whatever its first claim's place.
    await store.acquire(
      { key: 'a', token: 'a2', fingerprint: 'f', createdAt: 20, leaseUntil: 25, expiresAt: 1020 },
      20,
    );
    await store.complete('a', 'a2', done, 1020);
    await store.acquire(
      { key: 'c', token: 'c1', fingerprint: 'f', createdAt: 21, leaseUntil: 26, expiresAt: 1021 },
      21,
    );
    assert.equal(await store.get('b', 21), null, 'the oldest completed record goes');
    assert.equal((await store.get('a', 21))?.token, 'a2', 'the younger claim of a reused key stays');
    // A released record leaves a stale entry at the front; the next eviction passes it by.
    assert.equal(await store.release('c', 'c1'), true);
    await store.acquire(
      { key: 'd', token: 'd1', fingerprint: 'f', createdAt: 22, leaseUntil: 27, expiresAt: 1022 },
      22,
    );
    await store.acquire(
      { key: 'e', token: 'e1', fingerprint: 'f', createdAt: 23, leaseUntil: 28, expiresAt: 1023 },
      23,
    );
    assert.equal(await store.get('a', 23), null);
    assert.equal((await store.get('d', 23))?.state, 'in-flight');
    assert.equal((await store.get('e', 23))?.state, 'in-flight');
  });

  it('passes over a long-held claim on every eviction, and still never evicts it', async () => {
    const store = memoryStore({ maxEntries: 3 });
    const done = { status: 200, headers: [], body: new Uint8Array() };
    const claim = (key: string, at: number) =>
      store.acquire(
        { key, token: key, fingerprint: 'f', createdAt: at, leaseUntil: at + 5, expiresAt: at + 1e6 },
        at,
      );
    await claim('held', 0);
    for (let i = 1; i <= 50; i++) {
      assert.equal((await claim(`k${i}`, i)).acquired, true);
      await store.complete(`k${i}`, `k${i}`, done, i + 1e6);
    }
    assert.equal((await store.get('held', 51))?.state, 'in-flight');
    assert.equal((await store.get('k50', 51))?.state, 'completed');
    assert.equal((await store.get('k49', 51))?.state, 'completed');
    assert.equal(await store.get('k48', 51), null);
  });

  it('claims without scanning the records: V8 would walk every deleted entry again', async () => {
    const store = memoryStore({ maxEntries: 100 });
    const done = { status: 200, headers: [], body: new Uint8Array() };
    const map = Map.prototype as unknown as Record<PropertyKey, unknown>;
    const scans = [Symbol.iterator, 'entries', 'keys', 'values', 'forEach'] as const;
    const originals = scans.map((name) => map[name]);
    // Expiring records (the first 100) and a full store (the rest) are the cases that once scanned.
    const claim = (i: number) => {
      const at = i < 100 ? i : 1000 + i;
      return store.acquire(
        {
          key: `k${i}`,
          token: 't',
          fingerprint: 'f',
          createdAt: at,
          leaseUntil: at + 5,
          expiresAt: i < 100 ? 500 : 1e9,
        },
        at,
      );
    };
    for (let i = 0; i < 100; i++) {
      await claim(i);
      await store.complete(`k${i}`, 't', done, 500);
    }
    for (const name of scans) {
      map[name] = () => {
        throw new Error(`acquire scanned the records (Map.prototype.${String(name)})`);
      };
    }
    try {
      for (let i = 100; i < 400; i++) {
        assert.equal((await claim(i)).acquired, true);
        await store.complete(`k${i}`, 't', done, 1e9);
      }
    } finally {
      scans.forEach((name, i) => {
        map[name] = originals[i];
      });
    }
    assert.equal(await store.get('k99', 2000), null);
    assert.equal((await store.get('k399', 2000))?.state, 'completed');
  });

  it('keeps each body as it was at complete(), whatever its size and wherever its bytes sit', async () => {
    const store = memoryStore();
    // Around the size where small bodies are held as strings and larger ones as bytes.
    for (const size of [0, 1, 255, 4095, 4096, 70_000]) {
      const expected = Uint8Array.from({ length: size }, (_, i) => (i * 131 + size) % 256);
      // A view into a larger, pooled-looking buffer: only the view's bytes belong to the body.
      const backing = new Uint8Array(size + 16).fill(0xee);
      backing.set(expected, 7);
      const body = backing.subarray(7, 7 + size);
      const key = `size-${size}`;
      await store.acquire(
        { key, token: 't', fingerprint: 'f', createdAt: 0, leaseUntil: 5, expiresAt: 10 },
        0,
      );
      assert.equal(await store.complete(key, 't', { status: 200, headers: [], body }, 10), true);
      backing.fill(0); // the caller reuses its buffer
      const first = (await store.get(key, 1))?.response?.body;
      assert.deepEqual(first && [...first], [...expected], `a ${size}-byte body`);
      first?.fill(1);
      const second = (await store.get(key, 1))?.response?.body;
      if (size < 4096) assert.deepEqual(second && [...second], [...expected], 'a read gets its own copy');
    }
  });

  it('holds small bodies without an ArrayBuffer each (the collector tracks every one)', async () => {
    const store = memoryStore();
    const body = new TextEncoder().encode(
      JSON.stringify({ id: 'ch_0123456789abcdef', amount: 1000 }).repeat(2),
    );
    // Collect first: earlier tests' garbage freed during the loop would hide what it retains.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 10_000; i++) {
      const key = `k${i}`;
      store.acquire({ key, token: 't', fingerprint: 'f', createdAt: 0, leaseUntil: 5, expiresAt: 10 }, 0);
      store.complete(key, 't', { status: 201, headers: [['content-type', 'application/json']], body }, 10);
    }
    gc();
    const grown = process.memoryUsage().arrayBuffers - before;
    // One ArrayBuffer per record would hold 10,000 × body.length bytes (1.4 MB) here.
    assert.ok(grown < (10_000 * body.length) / 4, `ArrayBuffer bytes grew by ${grown}`);
    assert.equal((await store.get('k9999', 1))?.state, 'completed', 'the store was alive throughout');
  });

  it('gives each read its own header pairs, in order, repeats and odd bytes kept', async () => {
    const store = memoryStore();
    const cases: Array<Array<[string, string]>> = [
      [],
      [['content-type', 'application/json']],
      [
        ['set-thing', 'a'],
        ['x-empty', ''],
        ['set-thing', 'b'],
        ['x-latin', 'caf\u00e9 \u00ff'],
      ],
      [['x-nul', 'a\u0000b']], // node never sends one, but a store keeps what it is given
    ];
    for (const [i, headers] of cases.entries()) {
      const key = `headers-${i}`;
      await store.acquire(
        { key, token: 't', fingerprint: 'f', createdAt: 0, leaseUntil: 5, expiresAt: 10 },
        0,
      );
      const given = headers.map(([name, value]): [string, string] => [name, value]);
      await store.complete(key, 't', { status: 200, headers: given, body: new Uint8Array() }, 10);
      given.push(['x-later', 'changed by the caller']);
      const first = (await store.get(key, 1))?.response?.headers;
      assert.deepEqual(first, headers);
      first?.push(['x-read', 'changed by a reader']);
      first?.[0]?.splice(1, 1, 'changed');
      assert.deepEqual((await store.get(key, 1))?.response?.headers, headers, 'a read gets its own pairs');
    }
  });

  it('holds a completed record in few objects (each is visited by every full collection)', async () => {
    const store = memoryStore({ maxEntries: 100_000 });
    const body = Buffer.from(JSON.stringify({ id: 'ch_0123456789abcdef', object: 'charge', amount: 1000 }));
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    const count = 20_000;
    for (let i = 0; i < count; i++) {
      // Keys, fingerprints and tokens as the engine makes them: 64 hex digits, a short token.
      const key = i.toString(16).padStart(64, '0');
      const token = `t${i.toString(36)}`;
      store.acquire({ key, token, fingerprint: key, createdAt: 0, leaseUntil: 5, expiresAt: 10 }, 0);
      const headers: Array<[string, string]> = [
        ['x-powered-by', 'Express'],
        ['content-type', 'application/json; charset=utf-8'],
        ['etag', `W/"51-${i.toString(36).padStart(27, 'x')}"`],
      ];
      store.complete(key, token, { status: 201, headers, body }, 10);
    }
    gc();
    const perRecord = (process.memoryUsage().heapUsed - before) / count;
    // ~690 bytes a record; held as IdempotencyRecord shapes (the response, a list of pairs) ~1 KB.
    assert.ok(perRecord < 850, `${perRecord.toFixed(0)} bytes of heap per record`);
    assert.equal(
      (await store.get(`${'0'.repeat(63)}1`, 1))?.state,
      'completed',
      'the store was alive throughout',
    );
  });

  it('rejects a nonsensical bound', () => {
    assert.throws(() => memoryStore({ maxEntries: 0 }), /maxEntries/);
  });
});
