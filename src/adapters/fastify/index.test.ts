import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fastify5, { type FastifyInstance } from 'fastify';
import fastify4 from 'fastify4';
import { createIdempotency, type Idempotency } from '../../core/engine.js';
import type { IdempotencyEvent } from '../../core/events.js';
import type { RouteOptions } from '../../core/options.js';
import { memoryStore } from '../../stores/memory/index.js';
import { deferred } from '../../testing/deferred.js';
import { runAdapterContract, send, sendOk } from '../../testing/index.js';
import { type FastifyRequestLike, idempotency } from './index.js';

// One factory type for both majors: these tests use only what the two share.
type Factory = (options?: { logger?: boolean }) => FastifyInstance;
const versions: Array<[string, Factory]> = [
  ['fastify 4', fastify4 as unknown as Factory],
  ['fastify 5', fastify5 as unknown as Factory],
];

/** Accept any body (and none) as bytes, so the contract's untyped requests reach idemkit. */
function acceptAnyBody(app: FastifyInstance): void {
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
}

async function listenOn(app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' });
}

for (const [name, createApp] of versions) {
  runAdapterContract({
    name,
    describe,
    it,
    requestHeader: (request: FastifyRequestLike, header) => request.raw.headers[header] as string | undefined,
    async serve({ engine, routeOptions, handler }) {
      const app = createApp({ logger: false });
      acceptAnyBody(app);
      await app.register(idempotency(engine, routeOptions));
      app.all('*', async (request, reply) => {
        const body = request.body;
        const out = await handler({
          method: request.method,
          url: request.url,
          body: body === undefined ? '' : Buffer.isBuffer(body) ? body.toString() : JSON.stringify(body),
        });
        reply.code(out.status);
        for (const [header, value] of out.headers) reply.header(header, value);
        if (typeof out.body === 'string' || out.body instanceof Uint8Array) return reply.send(out.body);
        return reply.send(Readable.from(out.body));
      });
      const url = await listenOn(app);
      return { url, close: () => app.close() };
    },
  });
}

interface Harness {
  url: string;
  runs: () => number;
  events: IdempotencyEvent[];
  errors: unknown[];
  post(key: string | undefined, path: string, body?: string): ReturnType<typeof sendOk>;
  close(): Promise<void>;
}

async function start(
  createApp: Factory,
  routes: (app: FastifyInstance, count: () => void, engine: Idempotency) => void | Promise<void>,
  routeOptions: RouteOptions = {},
): Promise<Harness> {
  const events: IdempotencyEvent[] = [];
  const errors: unknown[] = [];
  let runs = 0;
  const engine = createIdempotency({ store: memoryStore(), onEvent: (event) => events.push(event) });
  const app = createApp({ logger: false });
  app.setErrorHandler((error, _request, reply) => {
    errors.push(error);
    return reply
      .code(500)
      .type('text/plain')
      .send(`handled: ${(error as Error).message}`);
  });
  await app.register(idempotency(engine, routeOptions));
  await routes(app, () => runs++, engine);
  const url = await listenOn(app);
  return {
    url,
    runs: () => runs,
    events,
    errors,
    post: (key, path, body = '{"a":1}') =>
      sendOk(url, {
        path,
        headers: [
          ['content-type', 'application/json'],
          ...(key === undefined ? [] : ([['idempotency-key', key]] as Array<[string, string]>)),
        ],
        body,
      }),
    close: () => app.close(),
  };
}

for (const [name, createApp] of versions) {
  describe(`${name}: framework specifics`, () => {
    it('replays a return value, reply.send(Buffer), reply.send(stream) and a 204, never re-running them', async () => {
      const app = await start(createApp, (app, count) => {
        app.post('/return', async (_request, reply) => {
          count();
          reply.code(201);
          return { ok: true, at: process.hrtime.bigint().toString() };
        });
        app.post('/buffer', async (_request, reply) => {
          count();
          return reply.type('application/octet-stream').send(Buffer.from([0, 255, 1, 254]));
        });
        app.post('/stream', async (_request, reply) => {
          count();
          return reply.type('text/plain').send(Readable.from([Buffer.from('a'), Buffer.from('b')]));
        });
        app.post('/no-content', async (_request, reply) => {
          count();
          return reply.code(204).send();
        });
      });
      try {
        for (const path of ['/return', '/buffer', '/stream', '/no-content']) {
          const key = randomUUID();
          const first = await app.post(key, path);
          const retry = await app.post(key, path);
          assert.equal(retry.header('idempotent-replayed'), 'true', `${path} must replay`);
          assert.equal(retry.status, first.status, path);
          assert.equal(Buffer.compare(retry.body, first.body), 0, path);
          assert.equal(retry.header('content-type'), first.header('content-type'), path);
        }
        assert.equal(app.runs(), 4);
      } finally {
        await app.close();
      }
    });

    it('thrown errors and reply.send(error) release the key and reach the error handler', async () => {
      let fail = true;
      const app = await start(createApp, (app, count) => {
        app.post('/throw', async () => {
          count();
          if (fail) throw new Error('thrown');
          return { ok: true };
        });
        app.post('/send-error', (_request, reply) => {
          count();
          // A custom error handler may answer with any status: the key is released regardless.
          if (fail) return void reply.send(Object.assign(new Error('sent'), { statusCode: 400 }));
          void reply.send({ ok: true });
        });
      });
      try {
        for (const path of ['/throw', '/send-error']) {
          fail = true;
          const key = randomUUID();
          const failed = await app.post(key, path);
          assert.match(failed.body.toString(), /^handled: /, 'the app’s error handler answered');
          fail = false;
          const retry = await app.post(key, path);
          assert.equal(retry.status, 200, `${path}: the retry runs again`);
          assert.equal(retry.header('idempotent-replayed'), undefined);
        }
        assert.equal(app.errors.length, 2);
        assert.equal(app.runs(), 4);
      } finally {
        await app.close();
      }
    });

    it('takes per-route options from config.idempotency, and config.idempotency: false opts out', async () => {
      const app = await start(createApp, (app, count) => {
        app.post('/required', { config: { idempotency: { required: true } } }, async () => {
          count();
          return { ok: true };
        });
        app.post('/unguarded', { config: { idempotency: false } }, async () => {
          count();
          return { ok: true };
        });
      });
      try {
        assert.equal((await app.post(undefined, '/required')).status, 400);
        const key = randomUUID();
        await app.post(key, '/unguarded');
        assert.equal((await app.post(key, '/unguarded')).header('idempotent-replayed'), undefined);
        assert.equal(app.runs(), 2);
      } finally {
        await app.close();
      }
    });

    it('registered in an encapsulated context, it guards that context’s routes only', async () => {
      let runs = 0;
      const engine = createIdempotency({ store: memoryStore() });
      const app = createApp({ logger: false });
      await app.register(async (scope) => {
        await scope.register(idempotency(engine));
        scope.post('/inside', async () => ({ n: ++runs }));
      });
      app.post('/outside', async () => ({ n: ++runs }));
      const url = await listenOn(app);
      try {
        const post = (path: string, key: string) =>
          sendOk(url, {
            path,
            headers: [
              ['content-type', 'application/json'],
              ['idempotency-key', key],
            ],
            body: '{}',
          });
        const key = randomUUID();
        await post('/inside', key);
        assert.equal((await post('/inside', key)).header('idempotent-replayed'), 'true');
        await post('/outside', key);
        assert.equal((await post('/outside', key)).header('idempotent-replayed'), undefined);
        assert.equal(runs, 3);
      } finally {
        await app.close();
      }
    });

    it('works under app.inject() too (mock requests), covering routes declared before it', async () => {
      let runs = 0;
      const app = createApp({ logger: false });
      app.post('/declared-first', async () => ({ n: ++runs }));
      await app.register(idempotency(createIdempotency({ store: memoryStore() })));
      try {
        const inject = () =>
          app.inject({
            method: 'POST',
            url: '/declared-first',
            headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' },
            payload: '{"a":1}',
          });
        const first = await inject();
        const retry = await inject();
        assert.equal(first.statusCode, 200, first.body);
        assert.equal(retry.headers['idempotent-replayed'], 'true');
        assert.equal(retry.body, first.body);
        assert.equal(runs, 1);
      } finally {
        await app.close();
      }
    });

    it('a hijacked reply cannot be captured: its key is released once it ends', async () => {
      const app = await start(createApp, (app, count) => {
        app.post('/hijacked', (_request, reply) => {
          count();
          reply.hijack();
          reply.raw.writeHead(200, { 'content-type': 'text/plain' }).end('raw');
        });
      });
      try {
        const key = randomUUID();
        assert.equal((await app.post(key, '/hijacked')).body.toString(), 'raw');
        const deadline = Date.now() + 2000;
        while (!app.events.some((event) => event.type === 'not-stored') && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 10));
        const retry = await app.post(key, '/hijacked');
        assert.equal(retry.header('idempotent-replayed'), undefined, 'the retry runs again');
        assert.equal(app.runs(), 2);
      } finally {
        await app.close();
      }
    });

    it('a stream cut off by a disconnect releases the key instead of leaving it in flight', async () => {
      const streamStarted = deferred();
      const app = await start(
        createApp,
        (app, count) => {
          app.post('/endless', async (_request, reply) => {
            count();
            const body = new Readable({ read() {} });
            body.push('partial');
            streamStarted.resolve();
            return reply.type('text/plain').send(body);
          });
        },
        { wait: 0 },
      );
      try {
        const key = randomUUID();
        const outcome = await send(app.url, {
          path: '/endless',
          headers: [
            ['content-type', 'application/json'],
            ['idempotency-key', key],
          ],
          body: '{"a":1}',
          abortOn: streamStarted.promise,
        });
        assert.equal(outcome, 'aborted');
        const deadline = Date.now() + 2000;
        while (!app.events.some((event) => event.type === 'not-stored') && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 10));
        assert.ok(
          app.events.some((event) => event.type === 'not-stored' && event.reason === 'aborted'),
          'the cut-off stream released the key',
        );
      } finally {
        await app.close();
      }
    });
  });
}
