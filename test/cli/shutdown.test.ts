import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { close, listen } from '../helpers/listen.js';
import { type RunningCli, startCli, waitFor } from './cli-process.js';

interface Answer {
  status: number;
  replayed: boolean;
  body: string;
}

/** One POST on its own connection (no keep-alive reuse across the restart). */
function post(url: string, key: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${url}/v1/orders`,
      {
        method: 'POST',
        agent: false,
        headers: { 'idempotency-key': key, 'content-type': 'application/json' },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            replayed: response.headers['idempotent-replayed'] === 'true',
            body,
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify({ key }));
  });
}

/**
 * An upstream that counts executions per key. `delayFor(key, attempt)` says how long each
 * execution takes before it answers 201.
 */
function countingUpstream(delayFor: (key: string, attempt: number) => number) {
  const runs = new Map<string, number>();
  const server = createServer((request, response) => {
    const key = String(request.headers['idempotency-key']);
    const attempt = (runs.get(key) ?? 0) + 1;
    runs.set(key, attempt);
    request.resume();
    const timer = setTimeout(
      () => {
        response.writeHead(201, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ key, attempt }));
      },
      delayFor(key, attempt),
    );
    response.on('close', () => clearTimeout(timer));
  });
  const total = () => [...runs.values()].reduce((sum, n) => sum + n, 0);
  return { server, runs, total };
}

describe('idemkit proxy: SIGTERM with 50 keyed requests in flight loses none', () => {
  const temp = mkdtempSync(join(tmpdir(), 'idemkit-shutdown-'));
  after(() => rmSync(temp, { recursive: true, force: true }));

  async function proxyFor(upstreamUrl: string, file: string, shutdownTimeout: number): Promise<RunningCli> {
    return startCli([
      'proxy',
      '--upstream',
      upstreamUrl,
      '--port',
      '0',
      '--store',
      `sqlite:${file}`,
      '--shutdown-timeout',
      String(shutdownTimeout),
      '--wait',
      '500',
    ]);
  }

  /** 50 requests, SIGTERM once the upstream has all of them, then the answers and the exit. */
  async function interrupt(proxy: RunningCli, total: () => number, keys: string[]) {
    const answers = keys.map((key) => post(proxy.url, key));
    await waitFor(() => total() === keys.length, 'all 50 requests to reach the upstream');
    const startedAt = performance.now();
    proxy.child.kill('SIGTERM');
    const settled = await Promise.all(answers);
    const exit = await proxy.exited;
    return { settled, exit, stoppedAfterMs: performance.now() - startedAt };
  }

  const keys = Array.from({ length: 50 }, () => randomUUID());

  describe('when in-flight requests finish within the bound', () => {
    const upstream = countingUpstream(() => 600);
    let upstreamUrl = '';
    before(async () => {
      upstreamUrl = await listen(upstream.server);
    });
    after(() => close(upstream.server));

    it('completes and stores every one, and a restarted proxy replays them all', async () => {
      const file = join(temp, 'finish.db');
      const proxy = await proxyFor(upstreamUrl, file, 10_000);
      const { settled, exit } = await interrupt(proxy, upstream.total, keys);
      assert.equal(exit.code, 0, proxy.stderr());
      assert.deepEqual(
        settled.map((answer) => answer.status),
        keys.map(() => 201),
      );
      const lines = proxy.logs();
      assert.ok(lines.some((line) => line.msg === 'shutting down' && line.inFlight === 50));
      assert.ok(lines.some((line) => line.msg === 'stopped'));
      assert.doesNotMatch(proxy.stderr(), /Warning|Error/, 'nothing but the banner on stderr');
      assert.equal(lines.filter((line) => line.outcome === 'executed' && line.stored === true).length, 50);

      const restarted = await proxyFor(upstreamUrl, file, 10_000);
      try {
        const retries = await Promise.all(keys.map((key) => post(restarted.url, key)));
        keys.forEach((key, i) => {
          assert.equal(retries[i]!.status, 201);
          assert.equal(retries[i]!.replayed, true, `key ${i} was not stored before the exit`);
          assert.equal(retries[i]!.body, settled[i]!.body);
          assert.equal(upstream.runs.get(key), 1);
        });
      } finally {
        await restarted.stop();
      }
    });
  });

  describe('when the bound is shorter than the upstream', () => {
    // Even keys answer in 200 ms and make it; odd keys take 8 s the first time and are cut off.
    const slow = new Set<string>(keys.filter((_, i) => i % 2 === 1));
    const upstream = countingUpstream((key, attempt) => (slow.has(key) && attempt === 1 ? 8_000 : 200));
    let upstreamUrl = '';
    before(async () => {
      upstreamUrl = await listen(upstream.server);
    });
    after(() => close(upstream.server));

    it('stores what finished, releases what was aborted, and each retry runs exactly once', async () => {
      const file = join(temp, 'abort.db');
      const proxy = await proxyFor(upstreamUrl, file, 1_000);
      const { settled, exit, stoppedAfterMs } = await interrupt(proxy, upstream.total, keys);
      assert.equal(exit.code, 0, proxy.stderr());
      assert.ok(stoppedAfterMs < 4_000, `stopping took ${stoppedAfterMs.toFixed(0)} ms with a 1 s bound`);
      keys.forEach((key, i) => {
        const answer = settled[i]!;
        if (slow.has(key)) {
          assert.equal(answer.status, 503, `slow key ${i}`);
          assert.equal(JSON.parse(answer.body).type, 'https://idemkit.dev/problems/proxy-shutting-down');
        } else {
          assert.equal(answer.status, 201, `fast key ${i}`);
        }
      });
      assert.ok(proxy.logs().some((line) => String(line.msg).startsWith('shutdown timeout reached')));

      const restarted = await proxyFor(upstreamUrl, file, 10_000);
      try {
        const retries = await Promise.all(keys.map((key) => post(restarted.url, key)));
        const again = await Promise.all(keys.map((key) => post(restarted.url, key)));
        keys.forEach((key, i) => {
          const retry = retries[i]!;
          assert.equal(retry.status, 201, `key ${i}: ${retry.body}`);
          if (slow.has(key)) {
            assert.equal(retry.replayed, false, `released key ${i} must run again`);
            assert.equal(upstream.runs.get(key), 2, `released key ${i} ran ${upstream.runs.get(key)} times`);
          } else {
            assert.equal(retry.replayed, true, `stored key ${i} must replay`);
            assert.equal(retry.body, settled[i]!.body);
            assert.equal(upstream.runs.get(key), 1);
          }
          assert.equal(again[i]!.replayed, true, `key ${i}: a second retry replays`);
          assert.equal(again[i]!.body, retry.body);
        });
      } finally {
        await restarted.stop();
      }
      // No upstream ran more than the counts above, even after the retries.
      assert.equal(upstream.total(), keys.length + slow.size);
    });
  });
});
