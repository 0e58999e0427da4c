import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeClock } from '../../test/helpers/fake-clock.js';
import { hangingFetch, inFlightProblem, scriptedFetch } from '../../test/helpers/scripted-fetch.js';
import {
  attemptsOf,
  createIdempotentFetch,
  fetchOutcomeOf,
  IdempotentFetchError,
  idempotencyKeyOf,
  type RetryEvent,
} from './index.js';

const url = 'http://127.0.0.1:9/charges';
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const busy = (headers?: Record<string, string>) => new Response('busy', { status: 503, headers });
const created = () => new Response('{"id":"ch_1"}', { status: 201 });

/** A random source that returns the given values in turn. */
function sequence(...values: number[]): () => number {
  let index = 0;
  return () => {
    const value = values[index++];
    if (value === undefined) throw new Error('random sequence exhausted');
    return value;
  };
}

describe('Idempotency-Key', () => {
  it('generates one UUID per call and sends it on every attempt of that call', async () => {
    const fetch = scriptedFetch(busy(), new TypeError('fetch failed'), created(), created());
    const events: RetryEvent[] = [];
    const idempotentFetch = createIdempotentFetch({
      fetch,
      ...fakeClock(),
      onRetry: (event) => events.push(event),
    });
    const response = await idempotentFetch(url, { method: 'POST', body: '{"amount":1}' });
    const keys = fetch.seen.map((request) => request.headers.get('idempotency-key'));
    assert.equal(keys.length, 3);
    assert.match(keys[0]!, uuid);
    assert.deepEqual(new Set(keys).size, 1, 'the same key on every attempt');
    assert.equal(idempotencyKeyOf(response), keys[0]);
    assert.equal(attemptsOf(response), 3);
    assert.deepEqual(
      events.map((event) => event.key),
      [keys[0], keys[0]],
    );

    const second = await idempotentFetch(url, { method: 'POST', body: '{"amount":1}' });
    assert.notEqual(idempotencyKeyOf(second), keys[0], 'a new call is a new operation with a new key');
  });

  it("uses the caller's idempotencyKey on every attempt", async () => {
    const fetch = scriptedFetch(busy(), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock() });
    const response = await idempotentFetch(url, { method: 'POST', body: 'x', idempotencyKey: 'order-42' });
    assert.deepEqual(
      fetch.seen.map((request) => request.headers.get('idempotency-key')),
      ['order-42', 'order-42'],
    );
    assert.equal(idempotencyKeyOf(response), 'order-42');
  });

  it('keeps an Idempotency-Key header the request already carries (init headers or a Request)', async () => {
    const fetch = scriptedFetch(busy(), created(), busy(), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock() });
    await idempotentFetch(url, { method: 'POST', body: 'x', headers: { 'Idempotency-Key': 'from-header' } });
    await idempotentFetch(
      new Request(url, { method: 'POST', body: 'x', headers: { 'idempotency-key': 'from-request' } }),
    );
    assert.deepEqual(
      fetch.seen.map((request) => request.headers.get('idempotency-key')),
      ['from-header', 'from-header', 'from-request', 'from-request'],
    );
  });

  it('refuses a key that disagrees with the header, or that the server would reject, before sending', async () => {
    const fetch = scriptedFetch();
    const idempotentFetch = createIdempotentFetch({ fetch });
    const headers = { 'idempotency-key': 'a' };
    await assert.rejects(idempotentFetch(url, { method: 'POST', headers, idempotencyKey: 'b' }), /disagree/);
    for (const bad of ['', ' padded', 'x'.repeat(256), 'caf\u00e9']) {
      await assert.rejects(
        idempotentFetch(url, { method: 'POST', idempotencyKey: bad }),
        TypeError,
        JSON.stringify(bad),
      );
    }
    assert.equal(fetch.seen.length, 0);
    // The same value twice is no disagreement.
    const agreeing = createIdempotentFetch({ fetch: scriptedFetch(created()) });
    assert.equal(
      idempotencyKeyOf(await agreeing(url, { method: 'POST', headers, idempotencyKey: 'a' })),
      'a',
    );
  });

  it('sends no key on GET, and still retries a GET on 503', async () => {
    const fetch = scriptedFetch(busy(), new Response('ok'));
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock() });
    const response = await idempotentFetch(url);
    assert.equal(response.status, 200);
    assert.equal(attemptsOf(response), 2);
    assert.equal(idempotencyKeyOf(response), undefined);
    assert.ok(fetch.seen.every((request) => !request.headers.has('idempotency-key')));
  });

  it('keys the methods named in `methods` (case-insensitively), and only those', async () => {
    const fetch = scriptedFetch(created(), created(), created());
    const idempotentFetch = createIdempotentFetch({ fetch, methods: ['post', 'DELETE'] });
    await idempotentFetch(url, { method: 'POST', body: 'x' });
    await idempotentFetch(url, { method: 'DELETE' });
    await idempotentFetch(url, { method: 'PATCH', body: 'x' });
    assert.deepEqual(
      fetch.seen.map((request) => request.headers.has('idempotency-key')),
      [true, true, false],
    );
  });

  it('does not retry a keyless POST when `methods` excludes POST, and says why', async () => {
    const fetch = scriptedFetch(busy(), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), methods: ['PATCH'] });
    const response = await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.equal(response.status, 503);
    assert.equal(fetch.seen.length, 1);
    assert.equal(fetch.seen[0]?.headers.has('idempotency-key'), false);
    assert.deepEqual(fetchOutcomeOf(response), {
      attempts: 1,
      idempotencyKey: undefined,
      gaveUp: 'not-retry-safe',
    });
  });

  it('retries a POST that carries its own key even when `methods` excludes POST', async () => {
    const fetch = scriptedFetch(busy(), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), methods: [] });
    const response = await idempotentFetch(url, { method: 'POST', body: 'x', idempotencyKey: 'mine' });
    assert.equal(response.status, 201);
    assert.equal(attemptsOf(response), 2);
  });
});

describe('backoff with full jitter (fake clock, no sleeping)', () => {
  it('waits random() * min(maxDelay, baseDelay * 2^(attempt-1)) between attempts', async () => {
    const clock = fakeClock();
    const fetch = scriptedFetch(busy(), busy(), busy(), busy(), busy(), created());
    const delays: number[] = [];
    const idempotentFetch = createIdempotentFetch({
      fetch,
      ...clock,
      maxAttempts: 6,
      baseDelay: 100,
      maxDelay: 1000,
      random: sequence(0.5, 0.25, 0.75, 0.999, 0.5),
      onRetry: (event) => delays.push(event.delay),
    });
    const response = await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.equal(response.status, 201);
    // ceilings 100, 200, 400, 800, then 1600 capped to 1000
    const expected = [50, 50, 300, 799.2, 500];
    assert.deepEqual(delays.map(round), expected);
    assert.deepEqual(clock.slept.map(round), expected);
    assert.equal(round(clock.now()), 1699.2);
  });

  it('Retry-After in seconds raises the wait, never lowers it', async () => {
    const clock = fakeClock();
    const fetch = scriptedFetch(busy({ 'retry-after': '3' }), busy({ 'retry-after': '0' }), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...clock, baseDelay: 100, random: () => 0.5 });
    await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.deepEqual(clock.slept, [3000, 100]);
  });

  it('Retry-After as an HTTP-date is measured against the injected clock', async () => {
    const start = Date.parse('2025-03-01T12:00:00Z');
    const clock = fakeClock(start);
    const in7s = new Date(start + 7000).toUTCString();
    const past = new Date(start - 60_000).toUTCString();
    const fetch = scriptedFetch(busy({ 'retry-after': in7s }), busy({ 'retry-after': past }), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...clock, baseDelay: 100, random: () => 0.5 });
    await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.deepEqual(clock.slept, [7000, 100], 'a date in the past leaves the backoff alone');
  });

  it('honours Retry-After on a 409 in flight and on 429', async () => {
    const clock = fakeClock();
    const tooMany = new Response('slow down', { status: 429, headers: { 'retry-after': '2' } });
    const fetch = scriptedFetch(inFlightProblem('1'), tooMany, created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...clock, random: () => 0 });
    await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.deepEqual(clock.slept, [1000, 2000]);
  });

  it('does not start a wait that would end past the deadline: returns the answer at once', async () => {
    const clock = fakeClock();
    const fetch = scriptedFetch(busy({ 'retry-after': '10' }), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...clock, deadline: 5000 });
    const response = await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.equal(response.status, 503);
    assert.deepEqual(fetchOutcomeOf(response), {
      attempts: 1,
      idempotencyKey: idempotencyKeyOf(response),
      gaveUp: 'deadline',
    });
    assert.deepEqual(clock.slept, []);
  });

  it('returns the answer instead of sleeping when Retry-After exceeds maxRetryAfter', async () => {
    const clock = fakeClock();
    const fetch = scriptedFetch(busy({ 'retry-after': '3600' }), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...clock, maxRetryAfter: 60_000 });
    const response = await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.equal(response.status, 503);
    assert.equal(fetchOutcomeOf(response)?.gaveUp, 'retry-after-too-long');
    assert.deepEqual(clock.slept, []);
  });

  it('bounds every attempt by the time left before the deadline', async () => {
    const clock = fakeClock();
    const fetch = hangingFetch();
    const idempotentFetch = createIdempotentFetch({
      fetch,
      ...clock,
      attemptTimeout: 300,
      deadline: 1000,
      random: () => 0,
    });
    const error = await idempotentFetch(url, { method: 'POST', body: 'x' }).catch(
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof IdempotentFetchError);
    assert.equal(error.code, 'deadline');
    assert.equal(error.attempts, 4);
    assert.equal((error.cause as DOMException).name, 'TimeoutError');
    // three full attempts (and zero-length waits), then the 100 ms that were left
    assert.deepEqual(clock.slept, [300, 0, 300, 0, 300, 0, 100]);
    assert.equal(clock.now(), 1000);
  });
});

describe('when attempts run out', () => {
  it('returns the last response of a retryable status, marked as given up', async () => {
    const last = busy({ 'x-last': 'yes' });
    const fetch = scriptedFetch(busy(), busy(), last);
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), maxAttempts: 3 });
    const response = await idempotentFetch(url, { method: 'POST', body: 'x' });
    assert.equal(response, last);
    assert.equal(await response.text(), 'busy', 'the returned body is unread');
    assert.equal(fetchOutcomeOf(response)?.gaveUp, 'attempts-exhausted');
    assert.equal(attemptsOf(response), 3);
  });

  it('throws IdempotentFetchError with the last network error as cause', async () => {
    const errors = [new TypeError('fetch failed 1'), new TypeError('fetch failed 2')];
    const fetch = scriptedFetch(...errors);
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), maxAttempts: 2 });
    const error = await idempotentFetch(url, { method: 'POST', body: 'x' }).catch(
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof IdempotentFetchError);
    assert.equal(error.name, 'IdempotentFetchError');
    assert.equal(error.code, 'attempts-exhausted');
    assert.equal(error.cause, errors[1]);
    assert.equal(error.attempts, 2);
    assert.match(error.idempotencyKey!, uuid);
    assert.match(error.message, /2 attempts/);
  });

  it('maxAttempts: 1 sends once', async () => {
    const fetch = scriptedFetch(busy());
    const response = await createIdempotentFetch({ fetch, maxAttempts: 1 })(url, { method: 'POST' });
    assert.equal(fetchOutcomeOf(response)?.gaveUp, 'attempts-exhausted');
  });
});

describe('responses that are retried are released', () => {
  it('cancels the body of every response it retries, and leaves the returned one alone', async () => {
    const cancelled: string[] = [];
    const tracked = (name: string, status: number) =>
      new Response(
        new ReadableStream({
          pull: (controller) => controller.enqueue(new TextEncoder().encode(name)),
          cancel: () => void cancelled.push(name),
        }),
        { status },
      );
    const fetch = scriptedFetch(tracked('first', 503), tracked('second', 502), tracked('final', 201));
    const response = await createIdempotentFetch({ fetch, ...fakeClock() })(url, { method: 'POST' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(cancelled, ['first', 'second']);
    assert.equal(response.bodyUsed, false);
  });
});

describe("the caller's AbortSignal", () => {
  it('rejects with its reason without sending when already aborted', async () => {
    const fetch = scriptedFetch(created());
    const reason = new Error('stop');
    await assert.rejects(
      createIdempotentFetch({ fetch })(url, { method: 'POST', signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
    assert.equal(fetch.seen.length, 0);
  });

  it('stops the current attempt and every later one', async () => {
    const fetch = hangingFetch();
    const controller = new AbortController();
    const call = createIdempotentFetch({ fetch })(url, { method: 'POST', signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await assert.rejects(call, { name: 'AbortError' });
    assert.equal(fetch.seen.length, 1);
  });

  it('stops a wait between attempts at once, even when the injected sleep ignores the signal', async () => {
    const fetch = scriptedFetch(busy(), created());
    const controller = new AbortController();
    let waiting!: () => void;
    const asleep = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    const idempotentFetch = createIdempotentFetch({
      fetch,
      sleep: () => {
        waiting();
        return new Promise<void>(() => {});
      },
    });
    const call = idempotentFetch(url, { method: 'POST', signal: controller.signal });
    await asleep;
    controller.abort(new Error('user left'));
    await assert.rejects(call, /user left/);
    assert.equal(fetch.seen.length, 1);
  });

  it("follows a Request input's own signal", async () => {
    const controller = new AbortController();
    const fetch = hangingFetch();
    const call = createIdempotentFetch({ fetch })(
      new Request(url, { method: 'POST', signal: controller.signal }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('request aborted'));
    await assert.rejects(call, /request aborted/);
  });
});

describe('options', () => {
  it('rejects values that cannot mean anything', () => {
    assert.throws(() => createIdempotentFetch({ maxAttempts: 0 }), RangeError);
    assert.throws(() => createIdempotentFetch({ maxAttempts: 1.5 }), RangeError);
    assert.throws(() => createIdempotentFetch({ baseDelay: -1 }), RangeError);
    assert.throws(() => createIdempotentFetch({ attemptTimeout: 0 }), RangeError);
    assert.throws(() => createIdempotentFetch({ deadline: Number.NaN }), RangeError);
  });

  it('attemptsOf and idempotencyKeyOf know nothing of other responses', () => {
    assert.equal(attemptsOf(new Response('x')), undefined);
    assert.equal(idempotencyKeyOf(new Response('x')), undefined);
    assert.equal(fetchOutcomeOf(new Response('x')), undefined);
  });

  it('reports each retry with attempt, reason, status or error, delay and key', async () => {
    const failure = new TypeError('fetch failed');
    const fetch = scriptedFetch(busy(), failure, created());
    const events: RetryEvent[] = [];
    const idempotentFetch = createIdempotentFetch({
      fetch,
      ...fakeClock(),
      baseDelay: 100,
      random: () => 0.5,
      onRetry: (event) => events.push(event),
    });
    await idempotentFetch(url, { method: 'POST', idempotencyKey: 'k' });
    assert.deepEqual(events, [
      { attempt: 1, reason: 'status', status: 503, delay: 50, key: 'k' },
      { attempt: 2, reason: 'network-error', error: failure, delay: 100, key: 'k' },
    ]);
  });
});

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
