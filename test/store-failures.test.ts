// Store outages through the engine and the node adapter, against real servers: answers are 503
// problem+json within storeTimeout, no handler runs twice, and service resumes without a restart.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { idempotency } from '../src/adapters/node/index.js';
import { createIdempotency, type IdempotencyStore } from '../src/index.js';
import { postgresStore } from '../src/stores/postgres/index.js';
import { redisStore } from '../src/stores/redis/index.js';
import { type RawResponse, sendOk } from '../src/testing/index.js';
import { close, listen } from './helpers/listen.js';
import { startRedis } from './helpers/redis-server.js';
import { postgresUrl } from './helpers/store-spec.js';

const storeTimeout = 500;

/** A node server on `store` whose handler counts its runs per key. */
async function serve(store: IdempotencyStore) {
  const runs = new Map<string, number>();
  const engine = createIdempotency({ store, storeTimeout, wait: 5_000 });
  const server = createServer(
    idempotency(engine)(async (req, res) => {
      const key = String(req.headers['idempotency-key']);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: randomUUID() }));
    }),
  );
  const url = await listen(server);
  const post = async (key: string): Promise<{ response: RawResponse; ms: number }> => {
    const startedAt = performance.now();
    const response = await sendOk(url, {
      path: '/v1/charges',
      headers: [['idempotency-key', key]],
      body: '{}',
    });
    return { response, ms: performance.now() - startedAt };
  };
  return { post, runs, close: () => close(server) };
}

function assertUnavailable({ response, ms }: { response: RawResponse; ms: number }, label: string): void {
  assert.equal(response.status, 503, `${label}: ${response.status} ${response.body.toString()}`);
  assert.equal(response.header('content-type'), 'application/problem+json');
  assert.equal(response.json().type, 'https://idemkit.dev/problems/idempotency-store-unavailable');
  assert.ok(Number(response.header('retry-after')) >= 1);
  assert.ok(
    ms < storeTimeout + 1000,
    `${label}: 503 took ${ms.toFixed(0)} ms (storeTimeout ${storeTimeout})`,
  );
}

describe('store failures', { concurrency: 1 }, () => {
  it('postgres: a blocked claim times out, a terminated backend fails fast, then service resumes', async () => {
    const table = `idemkit_fail_${randomBytes(4).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 4, application_name: 'idemkit-failure' });
    pool.on('error', () => undefined); // terminated idle connections report here; the pool replaces them
    const store = postgresStore({ pool, table, notify: false });
    await store.setup();
    const app = await serve(store);
    const admin = new pg.Client(postgresUrl);
    await admin.connect();
    after(async () => {
      await app.close();
      await admin.query('ROLLBACK').catch(() => undefined);
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.end();
      await pool.end();
    });

    // Hold a lock on the whole table: claims block inside Postgres until storeTimeout.
    await admin.query('BEGIN');
    await admin.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const blockedKey = randomUUID();
    assertUnavailable(await app.post(blockedKey), 'blocked claim');

    // Terminate every backend of the pool while a claim is stuck in one of them.
    const stuck = app.post(randomUUID());
    await new Promise((resolve) => setTimeout(resolve, 100));
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'idemkit-failure'`,
    );
    assertUnavailable(await stuck, 'terminated backend');
    await admin.query('ROLLBACK');

    // Back: the same keys now run, exactly once, on fresh connections.
    const again = await app.post(blockedKey);
    assert.equal(again.response.status, 201, again.response.body.toString());
    assert.equal((await app.post(blockedKey)).response.header('idempotent-replayed'), 'true');
    for (const [key, count] of app.runs) assert.equal(count, 1, `handler for ${key} ran ${count} times`);
  });

  it('redis: paused, then killed and restarted, answers 503 and resumes without a restart', async () => {
    const port = 16_390 + Math.floor(Math.random() * 500);
    let redis = await startRedis(port);
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    client.on('error', () => undefined);
    const app = await serve(redisStore({ client, pubsub: false }));
    after(async () => {
      await app.close();
      client.disconnect();
      await redis.stop();
    });

    assert.equal((await app.post(randomUUID())).response.status, 201);

    const admin = new Redis({ host: '127.0.0.1', port });
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    admin.disconnect();
    const pausedKey = randomUUID();
    assertUnavailable(await app.post(pausedKey), 'paused');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const afterPause = await app.post(pausedKey);
    // The paused claim may have landed once the pause ended; the engine gives it back, so the
    // retry runs (201) — or finds that claim still being released and waits for it.
    assert.equal(afterPause.response.status, 201, afterPause.response.body.toString());

    await redis.stop();
    const killedKey = randomUUID();
    assertUnavailable(await app.post(killedKey), 'killed');
    redis = await startRedis(port);
    let resumed: RawResponse | undefined;
    for (let attempt = 0; attempt < 50 && resumed?.status !== 201; attempt++) {
      resumed = (await app.post(killedKey)).response;
      if (resumed.status !== 201) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(resumed?.status, 201, 'service did not resume after Redis came back');
    for (const [key, count] of app.runs) assert.equal(count, 1, `handler for ${key} ran ${count} times`);
  });
});
