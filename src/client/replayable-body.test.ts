import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeClock } from '../../test/helpers/fake-clock.js';
import { scriptedFetch } from '../../test/helpers/scripted-fetch.js';
import {
  createIdempotentFetch,
  fetchOutcomeOf,
  IdempotentFetchError,
  type IdempotentRequestInit,
} from './index.js';

const url = 'http://127.0.0.1:9/upload';
const encoder = new TextEncoder();
const busy = () => new Response('busy', { status: 503 });
const created = () => new Response('done', { status: 201 });

/** Every byte value, so a body that is re-encoded anywhere shows up. */
const allBytes = Uint8Array.from({ length: 256 }, (_, index) => index);

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}

/** Sends `init` through a 503, a reset and a 201; returns the three requests the server saw. */
async function threeAttempts(input: string | Request, init?: IdempotentRequestInit) {
  const fetch = scriptedFetch(busy(), new TypeError('fetch failed'), created());
  const response = await createIdempotentFetch({ fetch, ...fakeClock() })(input, init);
  assert.equal(response.status, 201);
  assert.equal(fetch.seen.length, 3);
  return fetch.seen;
}

function assertSameBodies(seen: Array<{ body: Uint8Array; headers: Headers }>, expected?: Uint8Array) {
  const [first, ...rest] = seen;
  assert.ok(first);
  if (expected !== undefined) assert.deepEqual(first.body, expected);
  for (const later of rest) {
    assert.deepEqual(later.body, first.body, 'every attempt sends the same bytes');
    assert.equal(later.headers.get('content-type'), first.headers.get('content-type'));
  }
}

describe('every kind of body is replayed byte for byte', () => {
  it('string', async () => {
    const seen = await threeAttempts(url, { method: 'POST', body: 'héllo' });
    assertSameBodies(seen, encoder.encode('héllo'));
    assert.equal(seen[2]?.headers.get('content-type'), 'text/plain;charset=UTF-8');
  });

  it('JSON (a serialised string with its media type)', async () => {
    const body = JSON.stringify({ amount: 1000, currency: 'eur' });
    const headers = { 'content-type': 'application/json' };
    const seen = await threeAttempts(url, { method: 'POST', body, headers });
    assertSameBodies(seen, encoder.encode(body));
    assert.equal(seen[2]?.headers.get('content-type'), 'application/json');
  });

  it('ArrayBuffer, and the bytes as they were when the call started', async () => {
    const buffer = allBytes.slice().buffer;
    const fetch = scriptedFetch(busy(), created());
    const call = createIdempotentFetch({ fetch, ...fakeClock() })(url, { method: 'POST', body: buffer });
    new Uint8Array(buffer).fill(0); // the caller reuses its buffer while the call is running
    await call;
    assertSameBodies(fetch.seen, allBytes);
  });

  it('Uint8Array view into a larger buffer (only the viewed bytes)', async () => {
    const backing = new Uint8Array(300);
    backing.set(allBytes, 20);
    const seen = await threeAttempts(url, { method: 'POST', body: backing.subarray(20, 276) });
    assertSameBodies(seen, allBytes);
  });

  it('Buffer, DataView and other typed arrays', async () => {
    assertSameBodies(await threeAttempts(url, { method: 'POST', body: Buffer.from(allBytes) }), allBytes);
    assertSameBodies(
      await threeAttempts(url, { method: 'POST', body: new DataView(allBytes.slice().buffer) }),
      allBytes,
    );
    const floats = new Float64Array([1.5, -2, Math.PI]);
    assertSameBodies(
      await threeAttempts(url, { method: 'POST', body: floats }),
      new Uint8Array(floats.buffer.slice(0)),
    );
  });

  it('URLSearchParams, even when the caller changes them during the call', async () => {
    const params = new URLSearchParams({ amount: '1000', note: 'a&b c' });
    const fetch = scriptedFetch(busy(), created());
    const call = createIdempotentFetch({ fetch, ...fakeClock() })(url, { method: 'POST', body: params });
    params.set('amount', '9999');
    await call;
    assertSameBodies(fetch.seen, encoder.encode('amount=1000&note=a%26b+c'));
    assert.equal(
      fetch.seen[1]?.headers.get('content-type'),
      'application/x-www-form-urlencoded;charset=UTF-8',
    );
  });

  it('FormData, with the same multipart boundary on every attempt', async () => {
    const form = new FormData();
    form.set('name', 'receipt');
    form.set('file', new Blob([allBytes], { type: 'application/octet-stream' }), 'receipt.bin');
    const seen = await threeAttempts(url, { method: 'POST', body: form });
    assertSameBodies(seen);
    const contentType = seen[0]?.headers.get('content-type') ?? '';
    assert.match(contentType, /^multipart\/form-data; boundary=/);
    // fetch would pick a new random boundary per request; the server's fingerprint would differ.
    assert.ok(seen.every((request) => request.headers.get('content-type') === contentType));
  });

  it('Blob, with its type', async () => {
    const blob = new Blob([allBytes], { type: 'image/png' });
    const seen = await threeAttempts(url, { method: 'POST', body: blob });
    assertSameBodies(seen, allBytes);
    assert.equal(seen[2]?.headers.get('content-type'), 'image/png');
  });

  it('a ReadableStream under maxBufferedBody', async () => {
    const body = streamOf(allBytes.subarray(0, 100), allBytes.subarray(100));
    const seen = await threeAttempts(url, { method: 'POST', body, duplex: 'half' });
    assertSameBodies(seen, allBytes);
  });

  it('an async iterable (which undici accepts as a body)', async () => {
    async function* chunks() {
      yield allBytes.subarray(0, 10);
      yield allBytes.subarray(10);
    }
    const init = { method: 'POST', body: chunks(), duplex: 'half' } as unknown as IdempotentRequestInit;
    assertSameBodies(await threeAttempts(url, init), allBytes);
  });

  it('a Request input, its body read once; and init overriding it', async () => {
    const request = new Request(url, { method: 'POST', body: allBytes.slice(), headers: { 'x-trace': '1' } });
    const seen = await threeAttempts(request);
    assertSameBodies(seen, allBytes);
    assert.ok(seen.every((each) => each.headers.get('x-trace') === '1' && each.method === 'POST'));

    const overridden = await threeAttempts(new Request(url, { method: 'PUT', body: 'old' }), { body: 'new' });
    assertSameBodies(overridden, encoder.encode('new'));
    assert.equal(overridden[0]?.method, 'PUT');
  });

  it('no body', async () => {
    assertSameBodies(await threeAttempts(url, { method: 'POST' }), new Uint8Array());
  });
});

describe('a one-shot stream larger than maxBufferedBody', () => {
  const big = () => streamOf(allBytes.subarray(0, 100), allBytes.subarray(100, 200), allBytes.subarray(200));

  it('is sent once, whole, and a retryable answer is returned with the reason', async () => {
    const fetch = scriptedFetch(busy(), created());
    const retries: unknown[] = [];
    const idempotentFetch = createIdempotentFetch({
      fetch,
      ...fakeClock(),
      maxBufferedBody: 150,
      onRetry: (event) => retries.push(event),
    });
    const init: IdempotentRequestInit = { method: 'POST', body: big(), duplex: 'half' };
    const response = await idempotentFetch(url, init);
    assert.equal(response.status, 503);
    assert.equal(fetch.seen.length, 1);
    assert.deepEqual(
      fetch.seen[0]?.body,
      allBytes,
      'the bytes buffered for the check are sent, then the rest',
    );
    assert.equal(fetchOutcomeOf(response)?.gaveUp, 'body-not-replayable');
    assert.equal(retries.length, 0, 'onRetry is not called');
  });

  it('turns a network error into IdempotentFetchError "body-not-replayable" (cause: the error)', async () => {
    const failure = new TypeError('fetch failed');
    const fetch = scriptedFetch(failure, created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), maxBufferedBody: 150 });
    const init: IdempotentRequestInit = { method: 'POST', body: big(), duplex: 'half' };
    const error = await idempotentFetch(url, init).catch((caught: unknown) => caught);
    assert.ok(error instanceof IdempotentFetchError);
    assert.equal(error.code, 'body-not-replayable');
    assert.equal(error.cause, failure);
    assert.equal(fetch.seen.length, 1);
    assert.match(error.message, /maxBufferedBody/);
  });

  it('exactly at the limit is still replayable', async () => {
    const fetch = scriptedFetch(busy(), created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), maxBufferedBody: 256 });
    const init: IdempotentRequestInit = { method: 'POST', body: big(), duplex: 'half' };
    assert.equal((await idempotentFetch(url, init)).status, 201);
    assertSameBodies(fetch.seen, allBytes);
  });

  it('a stream of non-byte chunks is refused before anything is sent', async () => {
    const fetch = scriptedFetch(created());
    const strings = new ReadableStream({
      start(controller) {
        controller.enqueue('text');
        controller.close();
      },
    });
    const init = { method: 'POST', body: strings, duplex: 'half' } as unknown as IdempotentRequestInit;
    await assert.rejects(createIdempotentFetch({ fetch })(url, init), /Uint8Array/);
    assert.equal(fetch.seen.length, 0);
  });

  it('a stream that stalls while it is buffered is bounded by the deadline and by the caller', async () => {
    const stalled = () => new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    const fetch = scriptedFetch(created());
    const idempotentFetch = createIdempotentFetch({ fetch, ...fakeClock(), deadline: 1000 });
    const error = await idempotentFetch(url, { method: 'POST', body: stalled(), duplex: 'half' }).catch(
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof IdempotentFetchError);
    assert.equal(error.code, 'deadline');
    assert.equal(error.attempts, 0);

    const controller = new AbortController();
    const call = createIdempotentFetch({ fetch })(url, {
      method: 'POST',
      body: stalled(),
      duplex: 'half',
      signal: controller.signal,
    });
    controller.abort(new Error('never mind'));
    await assert.rejects(call, /never mind/);
    assert.equal(fetch.seen.length, 0);
  });
});
