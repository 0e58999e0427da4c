/**
 * The client against real node:http servers, in real time. These are the only client tests that
 * wait on the wall clock (about 2.5 s in all, most of it the one-second Retry-After).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { attemptsOf, createIdempotentFetch, IdempotentFetchError, idempotencyKeyOf } from './index.js';

interface Seen {
  at: number;
  key: string | undefined;
  body: string;
}

type Listener = (request: IncomingMessage, response: ServerResponse, seen: Seen[]) => void;

const servers: Server[] = [];
after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server on 127.0.0.1 that records every request it reads, then lets `listener` answer it. */
async function serve(listener: Listener): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const key = request.headers['idempotency-key'];
      seen.push({
        at: performance.now(),
        key: typeof key === 'string' ? key : undefined,
        body: Buffer.concat(chunks).toString(),
      });
      listener(request, response, seen);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/charges`, seen };
}

function problem(response: ServerResponse, status: number, code: string, retryAfter?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  response
    .writeHead(status, headers)
    .end(JSON.stringify({ type: `https://idemkit.dev/problems/${code}`, title: code, status, detail: code }));
}

const post = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"amount":1000}' };

describe('the client against a real server', () => {
  it('returns a 422 at once, without retrying', async () => {
    const { url, seen } = await serve((_, response) => problem(response, 422, 'idempotency-key-reused'));
    const retries: unknown[] = [];
    const idempotentFetch = createIdempotentFetch({ baseDelay: 10, onRetry: (event) => retries.push(event) });
    const response = await idempotentFetch(url, post);
    assert.equal(response.status, 422);
    const body = (await response.json()) as { type: string };
    assert.equal(body.type, 'https://idemkit.dev/problems/idempotency-key-reused');
    assert.equal(seen.length, 1);
    assert.equal(retries.length, 0);
    // "At once" is the single attempt and no retry; a wall-clock bound here only measures how
    // busy the machine is (the first fetch of a process can take most of a second under load).
    assert.equal(attemptsOf(response), 1);
  });

  it("retries a 409 in flight with the same key and ends with the original's answer", async () => {
    const { url, seen } = await serve((_, response, seen) => {
      if (seen.length <= 2) return problem(response, 409, 'idempotency-key-in-flight');
      response.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"ch_original"}');
    });
    const idempotentFetch = createIdempotentFetch({ baseDelay: 10 });
    const response = await idempotentFetch(url, post);
    assert.equal(response.status, 201);
    assert.deepEqual(await response.json(), { id: 'ch_original' });
    assert.equal(attemptsOf(response), 3);
    assert.equal(seen.length, 3);
    assert.ok(
      seen.every((request) => request.key === idempotencyKeyOf(response) && request.body === post.body),
    );
  });

  it('waits at least one second after "Retry-After: 1"', async () => {
    const { url, seen } = await serve((_, response, seen) => {
      if (seen.length === 1) return problem(response, 503, 'idempotency-store-unavailable', '1');
      response.writeHead(201).end('ok');
    });
    const response = await createIdempotentFetch({ baseDelay: 1 })(url, post);
    assert.equal(response.status, 201);
    const gap = seen[1]!.at - seen[0]!.at;
    // libuv's timer clock has millisecond resolution, so allow the last millisecond of rounding.
    assert.ok(gap >= 999, `the second attempt came ${gap.toFixed(1)} ms after the first`);
    assert.ok(gap < 1500, `and not much later (${gap.toFixed(1)} ms)`);
  });

  it('stops at the deadline, within one attempt timeout, when the server hangs', async () => {
    const { url, seen } = await serve(() => {}); // never answers
    const idempotentFetch = createIdempotentFetch({ attemptTimeout: 200, deadline: 500, baseDelay: 1 });
    const started = performance.now();
    const error = await idempotentFetch(url, post).catch((caught: unknown) => caught);
    const elapsed = performance.now() - started;
    assert.ok(error instanceof IdempotentFetchError);
    assert.equal(error.code, 'deadline');
    assert.equal((error.cause as DOMException).name, 'TimeoutError');
    assert.ok(elapsed >= 495 && elapsed < 500 + 200, `the call ended after ${elapsed.toFixed(0)} ms`);
    assert.equal(seen.length, error.attempts);
    assert.ok(error.attempts >= 3, `attempts: ${error.attempts}`);
  });

  it('returns at once when Retry-After reaches past the deadline', async () => {
    const { url, seen } = await serve((_, response) =>
      problem(response, 503, 'idempotency-store-unavailable', '5'),
    );
    const started = performance.now();
    const response = await createIdempotentFetch({ deadline: 2000 })(url, post);
    assert.equal(response.status, 503);
    assert.equal(seen.length, 1);
    // Waiting would take 5 s, and even giving up at the deadline 2 s; margin for a busy machine.
    assert.ok(performance.now() - started < 1500);
  });

  it("stops on the caller's abort during an attempt, within one attempt timeout", async () => {
    const { url, seen } = await serve(() => {});
    const controller = new AbortController();
    const idempotentFetch = createIdempotentFetch({ attemptTimeout: 300, baseDelay: 1 });
    const call = idempotentFetch(url, { ...post, signal: controller.signal });
    await delay(450); // inside the second attempt
    const abortedAt = performance.now();
    controller.abort();
    await assert.rejects(call, { name: 'AbortError' });
    const late = performance.now() - abortedAt;
    // Well inside the 300 ms attempt timeout: the abort, not the timeout, ended the attempt.
    assert.ok(late < 200, `rejected ${late.toFixed(1)} ms after the abort`);
    await delay(100);
    assert.equal(seen.length, 2, 'no attempt starts after the abort');
  });

  it("stops on the caller's abort during a wait between attempts", async () => {
    const { url, seen } = await serve((_, response) =>
      problem(response, 503, 'idempotency-store-unavailable', '5'),
    );
    const controller = new AbortController();
    const call = createIdempotentFetch()(url, { ...post, signal: controller.signal });
    await delay(100);
    const abortedAt = performance.now();
    controller.abort(new Error('shutting down'));
    await assert.rejects(call, /shutting down/);
    assert.ok(performance.now() - abortedAt < 500, 'not after the 5 s wait');
    assert.equal(seen.length, 1);
  });

  it("lets the caller's signal cancel the body of the response it returned, as fetch does", async () => {
    const { url } = await serve((_, response) => {
      response.writeHead(201, { 'content-type': 'text/plain' });
      response.write('first part, the rest never comes');
    });
    const controller = new AbortController();
    const response = await createIdempotentFetch()(url, { ...post, signal: controller.signal });
    assert.equal(response.status, 201);
    const reading = response.text().then(
      () => 'read to the end',
      (error: Error) => error.name,
    );
    controller.abort();
    // Bounded, so that a regression fails here instead of waiting for undici's 5-minute body timeout.
    assert.equal(await Promise.race([reading, delay(1000, 'still reading', { ref: false })]), 'AbortError');
  });
});
