import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryStore } from '../stores/memory/index.js';
import { type Awaitable, isPromiseLike } from './awaitable.js';
import { createIdempotency, type Decision } from './engine.js';
import { IdempotencyError } from './errors.js';
import type { IdempotencyEvent } from './events.js';
import type { IdempotencyRequest } from './request.js';

const request = (key: string, body = '{}'): IdempotencyRequest => ({
  method: 'POST',
  path: '/v1/charges',
  query: '',
  header: (name) =>
    name === 'idempotency-key' ? [key] : name === 'content-type' ? ['application/json'] : [],
  body: Buffer.from(body),
  native: undefined,
});

describe('createIdempotency options', () => {
  it('rejects nonsense with a coded error naming the option', () => {
    const store = memoryStore();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{}, /"store"/],
      [{ store, ttl: 0 }, /"ttl"/],
      [{ store, ttl: Number.NaN }, /"ttl"/],
      [{ store, lease: 1000, ttl: 1000 }, /"lease"/],
      [{ store, wait: -1 }, /"wait"/],
      [{ store, methods: 'POST' }, /"methods"/],
      [{ store, scope: 'tenant' }, /"scope"/],
      [{ store, maxResponseBytes: 1.5 }, /"maxResponseBytes"/],
      [{ store, onStoreError: 'ignore' }, /"onStoreError"/],
      [{ store, storeTimeout: 0 }, /"storeTimeout"/],
      [{ store, fingerprintHeaders: [''] }, /"fingerprintHeaders"/],
      [{ store, onEvent: 'log' }, /"onEvent"/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => createIdempotency(options as never),
        (error: unknown) =>
          error instanceof IdempotencyError &&
          error.code === 'idempotency-invalid-option' &&
          message.test(error.message),
        JSON.stringify(options, (_, value) => (value === store ? '<store>' : value)),
      );
    }
    assert.throws(() => createIdempotency({ store }).route({ lease: -5 }), /"lease"/);
  });

  it('lets route options override engine options', async () => {
    const engine = createIdempotency({ store: memoryStore(), wait: 1, methods: ['POST'] });
    assert.equal(engine.route().options.wait, 1);
    assert.equal(engine.route({ wait: 50 }).options.wait, 50);
    assert.deepEqual([...engine.route({ methods: ['put'] }).options.methods], ['PUT']);
  });
});

describe('engine lease and fencing (clock moved by hand)', () => {
  it('takes over a record whose owner stopped renewing; the stale owner cannot overwrite it', async () => {
    let now = 1_000_000;
    const events: IdempotencyEvent[] = [];
    const store = memoryStore();
    const engine = createIdempotency({
      store,
      now: () => now,
      lease: 30_000,
      wait: 0,
      onEvent: (event) => events.push(event),
    });
    const route = engine.route();

    const first = await route.begin(request('k'));
    assert.equal(first.type, 'execute');
    now += 29_999;
    const early = await route.begin(request('k'));
    assert.equal(
      early.type === 'respond' && early.response.status,
      409,
      'a live lease must not be taken over',
    );

    now += 2;
    const second = await route.begin(request('k'));
    assert.equal(second.type, 'execute', 'a lapsed lease must be taken over');
    if (first.type !== 'execute' || second.type !== 'execute') return;

    await second.execution.finish({ status: 201, headers: [], body: Buffer.from('fresh') });
    await first.execution.finish({ status: 201, headers: [], body: Buffer.from('stale') });
    assert.ok(
      events.some((event) => event.type === 'lease-lost'),
      'the stale owner must be told',
    );

    const replay = await route.begin(request('k'));
    assert.equal(replay.type, 'respond');
    if (replay.type === 'respond') assert.equal(Buffer.from(replay.response.body).toString(), 'fresh');
  });

  it('keeps ttl counted from the first claim across a takeover', async () => {
    let now = 0;
    const engine = createIdempotency({
      store: memoryStore(),
      now: () => now,
      lease: 1_000,
      ttl: 10_000,
      wait: 0,
    });
    const route = engine.route();
    await route.begin(request('k'));
    now = 5_000;
    const takeover = await route.begin(request('k'));
    assert.equal(takeover.type, 'execute');
    if (takeover.type === 'execute')
      await takeover.execution.finish({ status: 200, headers: [], body: new Uint8Array() });
    now = 9_999;
    assert.equal((await route.begin(request('k'))).type, 'respond');
    now = 10_000;
    assert.equal(
      (await route.begin(request('k', '{"other":1}'))).type,
      'execute',
      'expired 10 s after the first claim',
    );
  });

  it('never spins when a store declines to take over a lapsed lease', async () => {
    let now = 0;
    const inner = memoryStore();
    let acquires = 0;
    const stubborn = {
      ...inner,
      acquire: async (...args: Parameters<typeof inner.acquire>) => {
        acquires++;
        const result = await inner.acquire(...args);
        return { acquired: false as const, record: { ...result.record, token: 'someone-else' } };
      },
    };
    const engine = createIdempotency({ store: stubborn, now: () => now, lease: 10, wait: 100 });
    await inner.acquire(
      { key: 'x', fingerprint: 'f', token: 't', createdAt: 0, leaseUntil: 10, expiresAt: 1000 },
      0,
    );
    now = 50;
    const decision = await engine.route().begin(request('k'));
    assert.equal(decision.type, 'respond');
    assert.ok(acquires < 50, `${acquires} acquire calls in 100 ms: the engine is spinning`);
  });

  it('reports every outcome with its timing', async () => {
    const events: IdempotencyEvent[] = [];
    const engine = createIdempotency({
      store: memoryStore(),
      wait: 0,
      onEvent: (event) => events.push(event),
    });
    const route = engine.route();
    const run = await route.begin(request('k'));
    if (run.type === 'execute')
      await run.execution.finish({ status: 201, headers: [], body: new Uint8Array() });
    await route.begin(request('k'));
    await route.begin(request('k', '{"x":1}'));
    await route.begin(request(''));
    assert.deepEqual(
      events.map((event) => event.type),
      ['executed', 'replayed', 'mismatch', 'invalid-key'],
    );
    for (const event of events) assert.ok(event.durationMs >= 0 && Number.isFinite(event.durationMs));
  });

  it('survives a storeResponse hook that throws: nothing stored, the key free again', async () => {
    const events: IdempotencyEvent[] = [];
    const failure = new Error('policy bug');
    const engine = createIdempotency({
      store: memoryStore(),
      storeResponse: () => {
        throw failure;
      },
      onEvent: (event) => events.push(event),
    });
    const route = engine.route();
    const run = await route.begin(request('hook'));
    assert.ok(run.type === 'execute');
    await run.execution.finish({ status: 201, headers: [], body: Buffer.from('ok') });
    const notStored = events.find((event) => event.type === 'not-stored');
    assert.equal(notStored?.reason, 'error');
    assert.equal(notStored?.error, failure);
    assert.equal((await route.begin(request('hook'))).type, 'execute', 'a retry runs again');
  });

  it('survives an onEvent hook that throws', async () => {
    const engine = createIdempotency({
      store: memoryStore(),
      onEvent: () => {
        throw new Error('logger down');
      },
    });
    const decision = await engine.route().begin(request('k'));
    assert.equal(decision.type, 'execute');
    if (decision.type === 'execute')
      await decision.execution.finish({ status: 201, headers: [], body: new Uint8Array() });
  });
});

describe('duplicates waiting for an execution in the same process', () => {
  /** A memory store that counts reads and has no watch(), so only the engine can wake a waiter. */
  function countingStore() {
    const inner = memoryStore();
    const counts = { get: 0, acquire: 0, renew: 0 };
    const store = {
      ...inner,
      watch: undefined,
      acquire: (...args: Parameters<typeof inner.acquire>) => {
        counts.acquire++;
        return inner.acquire(...args);
      },
      get: (...args: Parameters<typeof inner.get>) => {
        counts.get++;
        return inner.get(...args);
      },
      renew: (...args: Parameters<typeof inner.renew>) => {
        counts.renew++;
        return inner.renew(...args);
      },
    };
    return { store, counts };
  }

  it('are handed the stored response without polling or reading the store again', async () => {
    const { store, counts } = countingStore();
    const route = createIdempotency({ store, wait: 5_000 }).route();
    const original = await route.begin(request('k'));
    assert.equal(original.type, 'execute');
    const waiters = Array.from({ length: 5 }, () => route.begin(request('k')));
    await sleep(120); // long enough for several polls, had the waiters been polling
    if (original.type === 'execute')
      await original.execution.finish({
        status: 201,
        headers: [['x-charge', 'ch_1']],
        body: Buffer.from('done'),
      });
    for (const decision of await Promise.all(waiters)) {
      assert.equal(decision.type, 'respond');
      if (decision.type !== 'respond') continue;
      assert.equal(decision.response.status, 201);
      assert.equal(Buffer.from(decision.response.body).toString(), 'done');
      assert.deepEqual(decision.response.headers, [
        ['x-charge', 'ch_1'],
        ['idempotency-key', 'k'],
        ['idempotent-replayed', 'true'],
      ]);
    }
    assert.equal(counts.get, 0, 'no store reads while the key was held in this process');
    assert.equal(counts.acquire, 6);
  });

  it('claim the key when the local execution releases it', async () => {
    const { store } = countingStore();
    const route = createIdempotency({ store, wait: 5_000 }).route();
    const original = await route.begin(request('k'));
    const waiter = route.begin(request('k'));
    await sleep(20);
    if (original.type === 'execute') await original.execution.abandon('error');
    assert.equal((await waiter).type, 'execute');
  });

  it('take over a local execution that stopped renewing once its lease lapses', async () => {
    const { store } = countingStore();
    const events: IdempotencyEvent[] = [];
    const route = createIdempotency({
      store,
      lease: 150,
      wait: 5_000,
      onEvent: (event) => events.push(event),
    }).route();
    const original = await route.begin(request('k'));
    assert.equal(original.type, 'execute');
    if (original.type !== 'execute') return;
    original.execution.stopRenewing();
    const startedAt = performance.now();
    const takeover = await route.begin(request('k'));
    assert.equal(takeover.type, 'execute', 'the waiter takes the lapsed key over');
    assert.ok(performance.now() - startedAt >= 140, 'not before the lease lapsed');
    if (takeover.type !== 'execute') return;
    await takeover.execution.finish({ status: 201, headers: [], body: Buffer.from('new') });
    await original.execution.finish({ status: 201, headers: [], body: Buffer.from('stale') });
    assert.ok(events.some((event) => event.type === 'lease-lost'));
    const replay = await route.begin(request('k'));
    assert.equal(replay.type === 'respond' && Buffer.from(replay.response.body).toString(), 'new');
  });

  it('renew while renewWhile says so, and no more once it says no', async () => {
    const { store, counts } = countingStore();
    const route = createIdempotency({ store, lease: 90, wait: 0 }).route();
    const original = await route.begin(request('k'));
    assert.equal(original.type, 'execute');
    if (original.type !== 'execute') return;
    let clientHere = true;
    original.execution.renewWhile(() => clientHere);
    await sleep(200); // renewals every 30 ms: the lease never lapses
    assert.ok(counts.renew >= 3, `${counts.renew} renewals while wanted`);
    assert.equal((await route.begin(request('k'))).type, 'respond', 'held: a duplicate gets 409');
    clientHere = false;
    const renewals = counts.renew;
    await sleep(200); // past the lease: the next renewal was skipped, the lease lapsed
    assert.equal(counts.renew, renewals, 'no renewal once unwanted');
    assert.equal((await route.begin(request('k'))).type, 'execute', 'the lapsed key is taken over');
  });

  it('wait for a live local execution that keeps renewing, then get its response', async () => {
    const { store, counts } = countingStore();
    const route = createIdempotency({ store, lease: 90, wait: 5_000 }).route();
    const original = await route.begin(request('k'));
    const waiter = route.begin(request('k'));
    await sleep(400); // several leases: the owner renews, the waiter only checks at each lease end
    if (original.type === 'execute')
      await original.execution.finish({ status: 200, headers: [], body: Buffer.from('slow') });
    const decision = await waiter;
    assert.equal(decision.type === 'respond' && Buffer.from(decision.response.body).toString(), 'slow');
    assert.ok(counts.get <= 8, `${counts.get} reads in 400 ms: one per lapsed lease at most`);
  });
});

describe('begin() with a store that answers synchronously', () => {
  /** The decision, asserting it came back at once rather than as a promise. */
  const atOnce = (value: Awaitable<Decision>, what: string): Decision => {
    assert.ok(!isPromiseLike(value), `${what}: decided without a promise`);
    return value as Decision;
  };

  it('decides a new key, a replay, a mismatch and a 409 without a promise', async () => {
    const route = createIdempotency({ store: memoryStore(), wait: 0 }).route();
    const first = atOnce(route.begin(request('sync')), 'a new key');
    assert.ok(first.type === 'execute');
    const inFlight = atOnce(route.begin(request('sync')), 'a duplicate with wait: 0');
    assert.ok(inFlight.type === 'respond' && inFlight.response.status === 409);

    await first.execution.finish({ status: 201, headers: [], body: Buffer.from('ok') });
    const replayed = atOnce(route.begin(request('sync')), 'a replay');
    assert.ok(replayed.type === 'respond' && replayed.response.status === 201);
    const mismatch = atOnce(route.begin(request('sync', '{"other":1}')), 'a mismatch');
    assert.ok(mismatch.type === 'respond' && mismatch.response.status === 422);
  });

  it('returns a promise when the store does, or when scope does', async () => {
    const store = memoryStore();
    const asyncStore = {
      ...store,
      acquire: async (...args: Parameters<typeof store.acquire>) => store.acquire(...args),
    };
    const viaAsyncStore = createIdempotency({ store: asyncStore }).route().begin(request('a'));
    assert.ok(isPromiseLike(viaAsyncStore));
    assert.equal((await viaAsyncStore).type, 'execute');

    const viaAsyncScope = createIdempotency({ store: memoryStore(), scope: async () => 'tenant' })
      .route()
      .begin(request('b'));
    assert.ok(isPromiseLike(viaAsyncScope));
    assert.equal((await viaAsyncScope).type, 'execute');
  });

  it('stores a finished response without a promise, so the next request replays it at once', () => {
    const route = createIdempotency({ store: memoryStore() }).route();
    const first = atOnce(route.begin(request('f')), 'a new key');
    assert.ok(first.type === 'execute');
    const finished = first.execution.finish({ status: 201, headers: [], body: Buffer.from('stored') });
    assert.ok(!isPromiseLike(finished), 'finish() with a synchronous store');
    const replayed = atOnce(route.begin(request('f')), 'the replay');
    assert.ok(replayed.type === 'respond' && Buffer.from(replayed.response.body).toString() === 'stored');

    const second = atOnce(route.begin(request('g')), 'another key');
    assert.ok(second.type === 'execute');
    assert.ok(!isPromiseLike(second.execution.abandon('error')), 'abandon() with a synchronous store');
    assert.equal(atOnce(route.begin(request('g')), 'the released key').type, 'execute');
  });

  it('a waiting duplicate still waits (a promise), and gets the response', async () => {
    const route = createIdempotency({ store: memoryStore() }).route();
    const first = atOnce(route.begin(request('w')), 'a new key');
    assert.ok(first.type === 'execute');
    const waiting = route.begin(request('w'));
    assert.ok(isPromiseLike(waiting));
    await first.execution.finish({ status: 201, headers: [], body: Buffer.from('done') });
    const answer = await waiting;
    assert.ok(answer.type === 'respond' && Buffer.from(answer.response.body).toString() === 'done');
  });
});
