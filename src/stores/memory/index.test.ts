import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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

  it('rejects a nonsensical bound', () => {
    assert.throws(() => memoryStore({ maxEntries: 0 }), /maxEntries/);
  });
});
