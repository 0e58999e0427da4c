import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createAdaptorServer } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { close, listen } from '../../../test/helpers/listen.js';
import { createIdempotency } from '../../core/engine.js';
import type { IdempotencyEvent } from '../../core/events.js';
import type { RouteOptions } from '../../core/options.js';
import { memoryStore } from '../../stores/memory/index.js';
import { runAdapterContract, sendOk } from '../../testing/index.js';
import { idempotency } from './index.js';

type Server = ReturnType<typeof createAdaptorServer> & import('node:http').Server;

runAdapterContract({
  name: 'hono 4 (@hono/node-server)',
  describe,
  it,
  requestHeader: (c: Context, name) => c.req.header(name),
  async serve({ engine, routeOptions, handler }) {
    const app = new Hono();
    // Hono's native error path: its error handler answers (the default one would also log).
    app.onError((_error, c) => c.text('Internal Server Error', 500));
    app.use(idempotency(engine, routeOptions));
    app.all('*', async (c) => {
      const url = new URL(c.req.url);
      const out = await handler({
        method: c.req.method,
        url: url.pathname + url.search,
        body: await c.req.text(),
      });
      const body =
        typeof out.body === 'string' || out.body instanceof Uint8Array
          ? out.body
          : ReadableStream.from(out.body);
      return new Response(out.status === 204 ? null : body, { status: out.status, headers: out.headers });
    });
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    const url = await listen(server);
    return { url, close: () => close(server) };
  },
});

async function start(build: (app: Hono, count: () => void) => void, routeOptions: RouteOptions = {}) {
  const events: IdempotencyEvent[] = [];
  const errors: unknown[] = [];
  let runs = 0;
  const engine = createIdempotency({ store: memoryStore(), onEvent: (event) => events.push(event) });
  const app = new Hono();
  app.onError((error, c) => {
    errors.push(error);
    return c.text(`handled: ${error.message}`, 500);
  });
  app.use(idempotency(engine, routeOptions));
  build(app, () => runs++);
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const url = await listen(server);
  return {
    url,
    events,
    errors,
    runs: () => runs,
    post: (key: string, path: string, body = '{"a":1}') =>
      sendOk(url, {
        path,
        headers: [
          ['content-type', 'application/json'],
          ['idempotency-key', key],
        ],
        body,
      }),
    close: () => close(server),
  };
}

describe('hono 4: framework specifics', () => {
  it('the handler still reads the body with c.req.json() and c.req.text()', async () => {
    const app = await start((app, count) => {
      app.post('/json', async (c) => {
        count();
        const body = await c.req.json();
        return c.json({ got: body, text: await c.req.text() }, 201);
      });
    });
    try {
      const key = randomUUID();
      const first = await app.post(key, '/json', '{"amount":7}');
      assert.deepEqual(first.json(), { got: { amount: 7 }, text: '{"amount":7}' });
      const retry = await app.post(key, '/json', '{ "amount": 7 }');
      assert.equal(retry.header('idempotent-replayed'), 'true');
      assert.equal(Buffer.compare(retry.body, first.body), 0);
      assert.equal(app.runs(), 1);
    } finally {
      await app.close();
    }
  });

  it('replays c.json, c.body(bytes), c.redirect, a stream and a 204, never re-running them', async () => {
    const app = await start((app, count) => {
      app.post('/json', (c) => {
        count();
        return c.json({ at: process.hrtime.bigint().toString() }, 201);
      });
      app.post('/bytes', (c) => {
        count();
        c.header('content-type', 'application/octet-stream');
        return c.body(new Uint8Array([0, 255, 1, 254]));
      });
      app.post('/redirect', (c) => {
        count();
        return c.redirect('/elsewhere', 303);
      });
      app.post('/stream', () => {
        count();
        return new Response(
          ReadableStream.from([new TextEncoder().encode('a'), new TextEncoder().encode('b')]),
        );
      });
      app.post('/no-content', (c) => {
        count();
        return c.body(null, 204);
      });
    });
    try {
      for (const path of ['/json', '/bytes', '/redirect', '/stream', '/no-content']) {
        const key = randomUUID();
        const first = await app.post(key, path);
        const retry = await app.post(key, path);
        assert.equal(retry.header('idempotent-replayed'), 'true', `${path} must replay`);
        assert.equal(retry.status, first.status, path);
        assert.equal(Buffer.compare(retry.body, first.body), 0, path);
        assert.equal(retry.header('location'), first.header('location'), path);
      }
      assert.equal(app.runs(), 5);
    } finally {
      await app.close();
    }
  });

  it('a thrown error reaches app.onError and releases the key', async () => {
    let fail = true;
    const app = await start((app, count) => {
      app.post('/throw', (c) => {
        count();
        if (fail) throw new Error('thrown');
        return c.text('ok');
      });
    });
    try {
      const key = randomUUID();
      const failed = await app.post(key, '/throw');
      assert.equal(failed.body.toString(), 'handled: thrown');
      fail = false;
      const retry = await app.post(key, '/throw');
      assert.equal(retry.body.toString(), 'ok', 'the retry runs again');
      assert.equal(retry.header('idempotent-replayed'), undefined);
      assert.equal(app.errors.length, 1);
      assert.equal(app.runs(), 2);
    } finally {
      await app.close();
    }
  });

  it('runs on the fetch interface alone (no server), as on Bun, Deno or Workers', async () => {
    const engine = createIdempotency({ store: memoryStore() });
    const app = new Hono();
    let runs = 0;
    app.post('/charges', idempotency(engine, { required: true }), async (c) =>
      c.json({ n: ++runs, body: await c.req.json() }, 201),
    );
    const request = () =>
      new Request('http://app.test/charges', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' },
        body: '{"a":1}',
      });
    const first = await app.fetch(request());
    const retry = await app.fetch(request());
    assert.equal(first.status, 201);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(await retry.text(), await first.text());
    assert.equal(runs, 1);
    const missing = await app.fetch(new Request('http://app.test/charges', { method: 'POST', body: '{}' }));
    assert.equal(missing.status, 400);
  });
});
