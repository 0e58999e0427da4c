import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import compression from 'compression';
import express5 from 'express';
import express4 from 'express4';
import { close, listen } from '../../../test/helpers/listen.js';
import { createIdempotency } from '../../core/engine.js';
import { memoryStore } from '../../stores/memory/index.js';
import { sendOk } from '../../testing/index.js';
import { idempotency } from './index.js';

type Express = typeof express5;
const versions: Array<[string, Express]> = [
  ['express 4', express4 as unknown as Express],
  ['express 5', express5],
];

// Well past compression's 1 KiB threshold, and compressible.
const report = 'line of a report that compresses well\n'.repeat(200);

/**
 * compression() wraps res.writeHead/write/end on each response before idemkit sees it. idemkit
 * then keeps what the handler wrote (the identity body), and its headers without compression's
 * Content-Encoding (set only as the head goes out). A replay passes through compression again,
 * which encodes it for the retrying client's own Accept-Encoding: stored gzip would reach a client
 * that never asked for it.
 */
for (const [name, express] of versions) {
  describe(`${name}: compression() mounted before idempotency`, () => {
    async function start() {
      let runs = 0;
      const engine = createIdempotency({ store: memoryStore() });
      const app = express();
      app.set('env', 'test');
      app.use(compression());
      app.post('/send', express.json(), idempotency(engine), (_req, res) => {
        runs++;
        res.status(201).type('text/plain').send(report);
      });
      app.post('/stream', express.json(), idempotency(engine), (_req, res) => {
        runs++;
        res.type('text/plain');
        res.write(report.slice(0, 3000));
        res.write(report.slice(3000, 6000));
        res.end(report.slice(6000));
      });
      const server = createServer(app);
      const url = await listen(server);
      const post = (path: string, key: string, encoding?: string) =>
        sendOk(url, {
          path,
          headers: [
            ['content-type', 'application/json'],
            ['idempotency-key', key],
            ...(encoding ? ([['accept-encoding', encoding]] as Array<[string, string]>) : []),
          ],
          body: '{"a":1}',
        });
      return { post, runs: () => runs, close: () => close(server) };
    }

    for (const path of ['/send', '/stream']) {
      it(`${path}: runs once, and every replay is encoded for the client that asks`, async () => {
        const app = await start();
        try {
          const key = randomUUID();
          const first = await app.post(path, key, 'gzip');
          assert.equal(first.header('content-encoding'), 'gzip');
          assert.equal(gunzipSync(first.body).toString(), report);
          assert.equal(first.header('idempotent-replayed'), undefined);

          const gzipRetry = await app.post(path, key, 'gzip');
          assert.equal(gzipRetry.header('idempotent-replayed'), 'true');
          assert.equal(gzipRetry.status, first.status);
          assert.equal(gzipRetry.header('content-encoding'), 'gzip');
          assert.equal(gunzipSync(gzipRetry.body).toString(), report);
          assert.match(gzipRetry.header('vary') ?? '', /accept-encoding/i);

          const plainRetry = await app.post(path, key);
          assert.equal(plainRetry.header('idempotent-replayed'), 'true');
          assert.equal(plainRetry.header('content-encoding'), undefined);
          assert.equal(plainRetry.body.toString(), report);
          assert.equal(plainRetry.header('content-type'), first.header('content-type'));
          assert.equal(app.runs(), 1);
        } finally {
          await app.close();
        }
      });
    }

    it('a first run without gzip is replayed gzipped to a client that accepts it', async () => {
      const app = await start();
      try {
        const key = randomUUID();
        const first = await app.post('/send', key);
        assert.equal(first.header('content-encoding'), undefined);
        assert.equal(first.body.toString(), report);
        const retry = await app.post('/send', key, 'gzip');
        assert.equal(retry.header('idempotent-replayed'), 'true');
        assert.equal(retry.header('content-encoding'), 'gzip');
        assert.equal(gunzipSync(retry.body).toString(), report);
        assert.equal(app.runs(), 1);
      } finally {
        await app.close();
      }
    });
  });
}
