import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeClock } from '../../test/helpers/fake-clock.js';
import { inFlightProblem, type ScriptedAnswer, scriptedFetch } from '../../test/helpers/scripted-fetch.js';
import { attemptsOf, createIdempotentFetch, IdempotentFetchError, type RetryEvent } from './index.js';
import { isIdempotentMethod, isNetworkError } from './retry-policy.js';

const url = 'http://127.0.0.1:9/charges';
const withoutBody = new Set([204, 205, 304]);

function answer(status: number): Response {
  return new Response(withoutBody.has(status) ? null : `status ${status}`, { status });
}

/** Sends one POST whose first attempt gets `first`, the second a 201; returns what happened. */
async function firstAnswer(first: ScriptedAnswer, attemptTimeout?: number) {
  const fetch = scriptedFetch(first, answer(201));
  const events: RetryEvent[] = [];
  const idempotentFetch = createIdempotentFetch({
    fetch,
    ...fakeClock(),
    random: () => 0,
    maxAttempts: 2,
    attemptTimeout,
    onRetry: (event) => events.push(event),
  });
  const outcome = await idempotentFetch(url, { method: 'POST', body: '{}' }).then(
    (response) => ({ response, error: undefined }),
    (error: unknown) => ({ response: undefined, error }),
  );
  return { ...outcome, requests: fetch.seen.length, events };
}

describe('retry table: statuses', () => {
  const retried = [408, 425, 429, 502, 503, 504];
  const final = [
    200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 500, 501, 505,
    507,
  ];

  for (const status of retried) {
    it(`${status} is retried`, async () => {
      const { response, requests, events } = await firstAnswer(answer(status));
      assert.equal(requests, 2);
      assert.equal(response?.status, 201);
      assert.equal(attemptsOf(response!), 2);
      assert.deepEqual(
        events.map(({ reason, status }) => ({ reason, status })),
        [{ reason: 'status', status }],
      );
    });
  }

  for (const status of final) {
    it(`${status} is final: returned at once, not retried`, async () => {
      const { response, requests, events } = await firstAnswer(answer(status));
      assert.equal(requests, 1);
      assert.equal(response?.status, status);
      assert.equal(attemptsOf(response!), 1);
      assert.equal(events.length, 0);
    });
  }

  it('409 idempotency-key-in-flight (problem+json) is retried', async () => {
    const { response, requests, events } = await firstAnswer(inFlightProblem());
    assert.equal(requests, 2);
    assert.equal(response?.status, 201);
    assert.equal(events[0]?.reason, 'key-in-flight');
  });

  it('409 with another problem type, or not JSON, is final and its body is still readable', async () => {
    const otherType = new Response(JSON.stringify({ type: 'https://example.com/problems/out-of-stock' }), {
      status: 409,
      headers: { 'content-type': 'application/problem+json' },
    });
    for (const conflict of [otherType, new Response('idempotency-key-in-flight', { status: 409 })]) {
      const { response, requests } = await firstAnswer(conflict);
      assert.equal(requests, 1);
      assert.equal(response?.status, 409);
      assert.match(await response!.text(), /out-of-stock|idempotency-key-in-flight/);
    }
  });
});

describe('retry table: errors', () => {
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const retriedErrors: Array<[string, Error]> = [
    ['a TypeError from fetch (undici "fetch failed")', new TypeError('fetch failed', { cause: reset })],
    ['a system error ECONNRESET', reset],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['EPIPE', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
    [
      'an undici socket error deep in the cause chain',
      new Error('wrapped', {
        cause: new Error('inner', { cause: Object.assign(new Error('closed'), { code: 'UND_ERR_SOCKET' }) }),
      }),
    ],
  ];
  for (const [name, error] of retriedErrors) {
    it(`${name} is retried`, async () => {
      const { response, requests, events } = await firstAnswer(error);
      assert.equal(requests, 2);
      assert.equal(response?.status, 201);
      assert.equal(events[0]?.reason, 'network-error');
      assert.equal(events[0]?.error, error);
    });
  }

  it('an attempt timeout is retried', async () => {
    const hang = (request: Request) =>
      new Promise<Response>((_, reject) =>
        request.signal.addEventListener('abort', () => reject(request.signal.reason)),
      );
    const { response, requests, events } = await firstAnswer(hang, 1000);
    assert.equal(requests, 2);
    assert.equal(response?.status, 201);
    assert.equal(events[0]?.reason, 'attempt-timeout');
    assert.equal((events[0]?.error as DOMException | undefined)?.name, 'TimeoutError');
  });

  it('any other error is not retried and is thrown as it is', async () => {
    const bug = new RangeError('a bug in a custom fetch');
    const { error, requests } = await firstAnswer(bug);
    assert.equal(requests, 1);
    assert.equal(error, bug);
  });

  it('a request that cannot be built is thrown before anything is sent', async () => {
    const fetch = scriptedFetch();
    const idempotentFetch = createIdempotentFetch({ fetch });
    await assert.rejects(idempotentFetch('not a url', { method: 'POST' }), TypeError);
    await assert.rejects(idempotentFetch(url, { method: 'GET', body: 'x' }), TypeError);
    assert.equal(fetch.seen.length, 0);
  });
});

describe('retry table: which requests may be repeated', () => {
  it('GET, HEAD, PUT, DELETE, OPTIONS are idempotent by definition; POST and PATCH are not', () => {
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'get', 'put'])
      assert.ok(isIdempotentMethod(method));
    for (const method of ['POST', 'PATCH', 'CONNECT', 'TRACE']) assert.ok(!isIdempotentMethod(method));
  });

  it('retries a keyless request with an idempotent method, never a keyless POST/PATCH', async () => {
    for (const [method, expected] of [
      ['GET', 2],
      ['PUT', 2],
      ['DELETE', 2],
      ['POST', 1],
      ['PATCH', 1],
    ] as const) {
      const fetch = scriptedFetch(answer(503), answer(200));
      const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), methods: [] });
      const response = await idempotentFetch(url, { method });
      assert.equal(fetch.seen.length, expected, method);
      assert.equal(fetch.seen[0]?.headers.has('idempotency-key'), false, `${method} carries no key`);
      assert.equal(response.status, expected === 2 ? 200 : 503);
    }
  });

  it('isNetworkError looks for the code along the cause chain and stops at a sane depth', () => {
    assert.ok(isNetworkError(new TypeError('fetch failed')));
    assert.ok(!isNetworkError(new Error('nope')));
    assert.ok(!isNetworkError(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' })));
    assert.ok(!isNetworkError('ECONNRESET'));
    assert.ok(!isNetworkError(null));
  });

  it('a keyless POST that hits a network error is not retried, and the error says why', async () => {
    const failure = new TypeError('fetch failed');
    const fetch = scriptedFetch(failure, answer(201));
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), methods: ['PATCH'] });
    const error = await idempotentFetch(url, { method: 'POST', body: 'x' }).catch(
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof IdempotentFetchError);
    assert.equal(error.code, 'not-retry-safe');
    assert.equal(error.cause, failure);
    assert.equal(error.attempts, 1);
    assert.equal(fetch.seen.length, 1);
  });
});
