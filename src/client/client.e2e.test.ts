/**
 * End to end: the client against a real idemkit server (engine + node adapter + memory store),
 * through a TCP proxy that resets connections, drops answers and adds latency. Whatever the network
 * does, every logical POST must run its handler exactly once and every caller must get the answer
 * that one run stored.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type FaultKind, seededFaults, startFaultProxy } from '../../test/helpers/fault-proxy.js';
import { idempotency } from '../adapters/node/index.js';
import { createIdempotency } from '../index.js';
import { memoryStore } from '../stores/memory/index.js';
import { attemptsOf, createIdempotentFetch, idempotencyKeyOf, type RetryReason } from './index.js';

const logicalPosts = 200;
const concurrency = 16;

/**
 * Two server behaviours for a duplicate that arrives while the original runs: the default waits for
 * the original and replays it; `wait: 0` answers 409 in flight at once (with `Retry-After: 1`), which
 * the client must retry until the original's answer is there.
 */
const variants = [
  { name: 'duplicates wait for the original (default)', route: {} },
  { name: 'duplicates get 409 in flight (wait: 0)', route: { wait: 0 } },
];

describe('idempotent fetch through a faulty network to an idemkit server', () => {
  for (const variant of variants) {
    it(`${logicalPosts} logical POSTs run the handler exactly ${logicalPosts} times; ${variant.name}`, async (t) => {
      const executionsPerKey = new Map<string, number>();
      const storedAnswers = new Map<string, string>();
      let executions = 0;

      const engine = createIdempotency({ store: memoryStore() });
      const server = createServer(
        idempotency(
          engine,
          variant.route,
        )(async (request, response) => {
          executions++;
          const key = String(request.headers['idempotency-key']);
          executionsPerKey.set(key, (executionsPerKey.get(key) ?? 0) + 1);
          // Some work, so that cut connections often land while the handler is still running.
          await delay(20 + (executions % 20));
          const body = JSON.stringify({
            charge: randomUUID(),
            execution: executions,
            order: JSON.parse(request.rawBody.toString()),
          });
          storedAnswers.set(key, body);
          response.writeHead(201, { 'content-type': 'application/json' });
          response.end(body);
        }),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

      const proxy = await startFaultProxy({
        upstreamPort: (server.address() as AddressInfo).port,
        choose: seededFaults({
          seed: 20_240_607,
          weights: {
            pass: 50,
            latency: 15,
            'reset-on-connect': 10,
            'reset-after-request': 12,
            'drop-response': 13,
          },
          maxFaults: 200,
        }),
        latency: 15,
        cutAfter: 5,
      });

      const retries: Record<RetryReason, number> = {
        status: 0,
        'key-in-flight': 0,
        'network-error': 0,
        'attempt-timeout': 0,
      };
      const idempotentFetch = createIdempotentFetch({
        maxAttempts: 15,
        baseDelay: 5,
        maxDelay: 100,
        attemptTimeout: 5_000,
        onRetry: ({ reason }) => retries[reason]++,
      });

      const results: Array<{
        order: number;
        status: number;
        key: string;
        body: string;
        attempts: number;
        replayed: boolean;
      }> = [];
      let next = 0;
      async function worker() {
        while (next < logicalPosts) {
          const order = next++;
          const response = await idempotentFetch(`http://127.0.0.1:${proxy.port}/charges`, {
            method: 'POST',
            // One request per connection, so every attempt meets a freshly chosen fault.
            headers: { 'content-type': 'application/json', connection: 'close' },
            body: JSON.stringify({ order, amount: 100 + order }),
          });
          results.push({
            order,
            status: response.status,
            key: idempotencyKeyOf(response)!,
            body: await response.text(),
            attempts: attemptsOf(response)!,
            replayed: response.headers.get('idempotent-replayed') === 'true',
          });
        }
      }

      const started = performance.now();
      try {
        await Promise.all(Array.from({ length: concurrency }, worker));
      } finally {
        await proxy.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      const elapsed = performance.now() - started;

      // Every caller got a 201 carrying the answer that the single execution for its key stored.
      assert.equal(results.length, logicalPosts);
      for (const result of results) {
        assert.equal(result.status, 201, `order ${result.order}`);
        assert.equal(
          result.body,
          storedAnswers.get(result.key),
          `order ${result.order} got the stored answer`,
        );
        assert.deepEqual((JSON.parse(result.body) as { order: unknown }).order, {
          order: result.order,
          amount: 100 + result.order,
        });
      }
      assert.equal(
        new Set(results.map((result) => result.key)).size,
        logicalPosts,
        'one key per logical POST',
      );
      assert.equal(executions, logicalPosts, 'handler executions');
      assert.equal(executionsPerKey.size, logicalPosts);
      assert.ok(
        [...executionsPerKey.values()].every((count) => count === 1),
        'no key ran twice',
      );

      // The network really misbehaved, and the retries really went through the replay path.
      const injected = proxy.counts;
      const faults = (['reset-on-connect', 'reset-after-request', 'drop-response'] as FaultKind[]).reduce(
        (sum, kind) => sum + injected[kind],
        0,
      );
      const totalAttempts = results.reduce((sum, result) => sum + result.attempts, 0);
      const replays = results.filter((result) => result.replayed).length;
      assert.ok(
        injected['drop-response'] >= 10 &&
          injected['reset-after-request'] >= 10 &&
          injected['reset-on-connect'] >= 10,
      );
      assert.ok(totalAttempts > logicalPosts + 50, `attempts: ${totalAttempts}`);
      assert.ok(replays >= injected['drop-response'] / 2, `replays: ${replays}`);

      t.diagnostic(
        `${logicalPosts} logical POSTs, ${executions} handler executions, ${totalAttempts} attempts, ` +
          `${replays} answered by replay, max attempts for one call ${Math.max(...results.map((r) => r.attempts))}, ` +
          `${elapsed.toFixed(0)} ms`,
      );
      t.diagnostic(`connections by fault: ${JSON.stringify(injected)} (${faults} faulty)`);
      t.diagnostic(`retries by reason: ${JSON.stringify(retries)}`);
    });
  }

  it('a retry that finds its original still running gets 409 in flight, waits, and gets the answer', async (t) => {
    let executions = 0;
    const engine = createIdempotency({ store: memoryStore() });
    const server = createServer(
      idempotency(engine, { wait: 0 })(async (_request, response) => {
        executions++;
        await delay(300);
        response.writeHead(201, { 'content-type': 'application/json' }).end(`{"execution":${executions}}`);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // The first connection is cut 20 ms into the 300 ms handler; the rest pass.
    const proxy = await startFaultProxy({
      upstreamPort: (server.address() as AddressInfo).port,
      choose: (connection) => (connection === 0 ? 'reset-after-request' : 'pass'),
      cutAfter: 20,
    });
    const reasons: RetryReason[] = [];
    const idempotentFetch = createIdempotentFetch({
      baseDelay: 5,
      onRetry: ({ reason }) => reasons.push(reason),
    });
    const started = performance.now();
    try {
      const response = await idempotentFetch(`http://127.0.0.1:${proxy.port}/charges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: '{"amount":100}',
      });
      assert.equal(response.status, 201);
      assert.equal(await response.text(), '{"execution":1}');
      assert.equal(response.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(reasons.slice(0, 2), ['network-error', 'key-in-flight']);
      assert.equal(executions, 1);
      t.diagnostic(
        `attempts ${attemptsOf(response)}, retries ${reasons.join(', ')}, ${(performance.now() - started).toFixed(0)} ms`,
      );
    } finally {
      await proxy.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
