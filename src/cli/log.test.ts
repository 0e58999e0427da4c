import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdempotencyError } from '../core/errors.js';
import { memoryStore } from '../stores/memory/index.js';
import { createLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { timedStore } from './timed-store.js';

describe('createLogger', () => {
  it('writes one JSON line per outcome, at its level, and drops what is below the threshold', () => {
    const lines: string[] = [];
    const log = createLogger('warn', (line) => lines.push(line));
    log.outcome({
      type: 'executed',
      method: 'POST',
      path: '/p',
      durationMs: 1.234567,
      status: 201,
      stored: true,
    });
    log.outcome({ type: 'mismatch', method: 'POST', path: '/p', key: 'k', durationMs: 2, status: 422 });
    log.outcome({
      type: 'store-error',
      method: 'POST',
      path: '/p',
      durationMs: 3,
      reason: 'acquire',
      error: new IdempotencyError('idempotency-store-unavailable', 'store.acquire failed', {
        cause: new Error('ECONNREFUSED'),
      }),
    });
    log.info('hidden');
    assert.equal(lines.length, 2);
    assert.ok(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n')));
    const [mismatch, failure] = lines.map((line) => JSON.parse(line));
    assert.equal(mismatch.level, 'warn');
    assert.equal(mismatch.outcome, 'mismatch');
    assert.equal(mismatch.key, 'k');
    assert.equal(failure.level, 'error');
    assert.equal(failure.error, 'store.acquire failed (ECONNREFUSED)');
  });

  it('is silent when asked', () => {
    const lines: string[] = [];
    const log = createLogger('silent', (line) => lines.push(line));
    log.error('nope');
    log.outcome({ type: 'store-error', method: 'POST', path: '/', durationMs: 0 });
    assert.equal(lines.length, 0);
  });
});

describe('timedStore', () => {
  it('times every call into the histogram, counts failures, and knows when it is drained', async () => {
    const metrics = createMetrics();
    const inner = memoryStore();
    const store = timedStore({ ...inner, get: async () => Promise.reject(new Error('down')) }, metrics);
    const now = Date.now();
    await store.acquire(
      {
        key: 'k',
        fingerprint: 'f',
        token: 't',
        createdAt: now,
        leaseUntil: now + 1000,
        expiresAt: now + 2000,
      },
      now,
    );
    await assert.rejects(async () => store.get('k', now), /down/);
    assert.equal(store.pending, 0);
    assert.equal(await store.drained(10), true);
    const text = metrics.render();
    assert.match(text, /^idemkit_store_operation_duration_seconds_count\{operation="acquire"\} 1$/m);
    assert.match(text, /^idemkit_store_operation_duration_seconds_count\{operation="get"\} 1$/m);
    assert.match(text, /^idemkit_store_errors_total\{operation="get"\} 1$/m);
    assert.match(text, /^idemkit_store_errors_total\{operation="acquire"\} 0$/m);
  });

  it('waits for calls in flight, with a bound', async () => {
    let finish!: () => void;
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const store = timedStore({
      ...memoryStore(),
      purgeExpired: async () => {
        await slow;
        return 0;
      },
    });
    const purge = store.purgeExpired(Date.now());
    assert.equal(store.pending, 1);
    assert.equal(await store.drained(20), false);
    const drained = store.drained(1_000);
    finish();
    await purge;
    assert.equal(await drained, true);
  });
});
