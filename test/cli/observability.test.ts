import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { sendOk } from '../../src/testing/index.js';
import { close, listen } from '../helpers/listen.js';
import { type RunningCli, startCli, waitFor } from './cli-process.js';

/** The value of one sample line (`name{labels} value`) in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('idemkit proxy: logs and metrics', () => {
  const upstream = createServer((request, response) => {
    request.resume();
    request.on('end', () =>
      response.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}'),
    );
  });
  let proxy: RunningCli;

  before(async () => {
    const upstreamUrl = await listen(upstream);
    proxy = await startCli([
      'proxy',
      '--upstream',
      upstreamUrl,
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--log-level',
      'debug',
    ]);
  });

  after(async () => {
    await proxy.stop();
    await close(upstream);
  });

  it('writes one JSON line per outcome and serves Prometheus text with counters and a latency histogram', async () => {
    const key = randomUUID();
    const post = (body: string, headers: Array<[string, string]> = [['idempotency-key', key]]) =>
      sendOk(proxy.url, {
        path: '/v1/charges',
        headers: [['content-type', 'application/json'], ...headers],
        body,
      });
    assert.equal((await post('{"a":1}')).status, 201);
    assert.equal((await post('{"a":1}')).header('idempotent-replayed'), 'true');
    assert.equal((await post('{"a":2}')).status, 422);
    assert.equal((await post('{}', [['idempotency-key', '']])).status, 400);
    assert.equal((await sendOk(proxy.url, { method: 'GET', path: '/v1/charges' })).status, 201);

    await waitFor(() => proxy.logs().some((line) => line.outcome === 'passed'), 'the pass-through log line');
    const outcomes = proxy.logs().filter((line) => line.outcome !== undefined);
    assert.deepEqual(
      outcomes.map((line) => line.outcome),
      ['executed', 'replayed', 'mismatch', 'invalid-key', 'passed'],
    );
    const [executed, replayed, mismatch, invalid, passed] = outcomes;
    assert.deepEqual(
      {
        level: executed!.level,
        key: executed!.key,
        status: executed!.status,
        stored: executed!.stored,
        path: executed!.path,
      },
      { level: 'info', key, status: 201, stored: true, path: '/v1/charges' },
    );
    assert.equal(typeof executed!.durationMs, 'number');
    assert.ok(!Number.isNaN(Date.parse(executed!.time)));
    assert.equal(replayed!.level, 'info');
    assert.equal(mismatch!.level, 'warn');
    assert.equal(mismatch!.status, 422);
    assert.equal(invalid!.level, 'warn');
    assert.equal(passed!.level, 'debug');
    assert.equal(passed!.method, 'GET');

    assert.ok(proxy.metricsUrl, 'the listening line names the metrics URL');
    const response = await fetch(proxy.metricsUrl!);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.match(text, /^# TYPE idemkit_requests_total counter$/m);
    for (const [outcome, count] of [
      ['executed', 1],
      ['replayed', 1],
      ['mismatch', 1],
      ['invalid-key', 1],
      ['passed', 1],
      ['conflict', 0],
    ] as const) {
      assert.equal(sample(text, `idemkit_requests_total{outcome="${outcome}"}`), count, outcome);
    }
    assert.match(text, /^# TYPE idemkit_store_operation_duration_seconds histogram$/m);
    // Three keyed requests reached the store (the invalid key did not): three acquires, one complete.
    const acquire = 'idemkit_store_operation_duration_seconds';
    assert.equal(sample(text, `${acquire}_count{operation="acquire"}`), 3);
    assert.equal(sample(text, `${acquire}_bucket{operation="acquire",le="+Inf"}`), 3);
    assert.equal(sample(text, `${acquire}_count{operation="complete"}`), 1);
    assert.ok(sample(text, `${acquire}_sum{operation="acquire"}`)! > 0);
    const buckets = text
      .split('\n')
      .filter((line) => line.startsWith(`${acquire}_bucket{operation="acquire"`))
      .map((line) => Number(line.split(' ')[1]));
    assert.deepEqual(
      buckets,
      [...buckets].sort((a, b) => a - b),
      'buckets are cumulative',
    );
    assert.equal(sample(text, 'idemkit_store_errors_total{operation="acquire"}'), 0);
    assert.equal(sample(text, 'idemkit_proxy_upstream_errors_total{reason="unreachable"}'), 0);

    assert.equal((await fetch(new URL('/other', proxy.metricsUrl!))).status, 404);
  });
});
