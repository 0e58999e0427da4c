import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import Koa3 from 'koa';
import bodyParser from 'koa-bodyparser';
import Koa2 from 'koa2';
import { close, listen } from '../../../test/helpers/listen.js';
import { createIdempotency } from '../../core/engine.js';
import type { IdempotencyEvent } from '../../core/events.js';
import { readBody } from '../../core/node-http.js';
import type { RouteOptions } from '../../core/options.js';
import { memoryStore } from '../../stores/memory/index.js';
import { deferred } from '../../testing/deferred.js';
import { runAdapterContract, send, sendOk } from '../../testing/index.js';
import { idempotency, type KoaContextLike } from './index.js';

// One constructor type for both majors: these tests use only what the two share.
type KoaClass = typeof Koa3;
const versions: Array<[string, KoaClass, 'body parser' | 'raw body']> = [
  ['koa 2', Koa2 as unknown as KoaClass, 'raw body'],
  ['koa 3', Koa3, 'body parser'],
];

for (const [name, Koa, bodies] of versions) {
  runAdapterContract({
    name: `${name} (${bodies})`,
    describe,
    it,
    requestHeader: (ctx: KoaContextLike, header) => ctx.req.headers[header] as string | undefined,
    async serve({ engine, routeOptions, handler }) {
      const app = new Koa();
      app.silent = true;
      if (bodies === 'body parser') app.use(bodyParser({ enableTypes: ['json', 'text'] }));
      app.use(idempotency(engine, routeOptions));
      app.use(async (ctx) => {
        const raw = (ctx.request as KoaContextLike['request']).rawBody;
        // Unkeyed requests reach the handler unread when no body parser ran: it reads them itself.
        const body =
          raw === undefined
            ? (await readBody(ctx.req)).toString()
            : Buffer.isBuffer(raw)
              ? raw.toString()
              : raw;
        const out = await handler({ method: ctx.method, url: ctx.originalUrl, body: String(body) });
        ctx.status = out.status;
        for (const [header, value] of out.headers) ctx.append(header, value);
        ctx.body =
          typeof out.body === 'string' || Buffer.isBuffer(out.body)
            ? out.body
            : out.body instanceof Uint8Array
              ? Buffer.from(out.body)
              : Readable.from(out.body);
      });
      const server = createServer(app.callback());
      const url = await listen(server);
      return { url, close: () => close(server) };
    },
  });
}

interface Harness {
  url: string;
  runs: () => number;
  events: IdempotencyEvent[];
  errors: unknown[];
  post(key: string, path: string, body?: string, contentType?: string): ReturnType<typeof sendOk>;
  close(): Promise<void>;
}

type Handler = (ctx: Koa3.Context) => unknown;

async function start(Koa: KoaClass, routes: Record<string, Handler>, routeOptions: RouteOptions = {}) {
  const events: IdempotencyEvent[] = [];
  const errors: unknown[] = [];
  let runs = 0;
  const engine = createIdempotency({ store: memoryStore(), onEvent: (event) => events.push(event) });
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    // The app's own error handling, outside idemkit: it must see every error.
    try {
      await next();
    } catch (error) {
      errors.push(error);
      ctx.status = 500;
      ctx.body = `handled: ${(error as Error).message}`;
    }
  });
  app.use(bodyParser());
  app.use(idempotency(engine, routeOptions));
  app.use(async (ctx) => {
    const route = routes[ctx.path];
    if (!route) return;
    runs++;
    await route(ctx);
  });
  const server = createServer(app.callback());
  const url = await listen(server);
  const harness: Harness = {
    url,
    runs: () => runs,
    events,
    errors,
    post: (key, path, body = '{"a":1}', contentType = 'application/json') =>
      sendOk(url, {
        path,
        headers: [
          ['content-type', contentType],
          ['idempotency-key', key],
        ],
        body,
      }),
    close: () => close(server),
  };
  return harness;
}

for (const [name, Koa] of versions) {
  describe(`${name}: framework specifics`, () => {
    it('replays strings, Buffers, JSON, streams, bodiless statuses and a 204, never re-running them', async () => {
      const app = await start(Koa, {
        '/string': (ctx) => {
          ctx.body = '<p>hi</p>';
        },
        '/buffer': (ctx) => {
          ctx.body = Buffer.from([0, 255, 1, 254]);
        },
        '/json': (ctx) => {
          ctx.status = 201;
          ctx.body = { ok: true, at: process.hrtime.bigint().toString() };
        },
        '/stream': (ctx) => {
          ctx.type = 'text/plain';
          ctx.body = Readable.from([Buffer.from('a'), Buffer.from('b')]);
        },
        '/accepted': (ctx) => {
          ctx.status = 202; // No body: Koa answers "Accepted".
        },
        '/no-content': (ctx) => {
          ctx.status = 204;
        },
        '/null': (ctx) => {
          ctx.body = null; // Koa turns this into a 204.
        },
      });
      try {
        for (const path of ['/string', '/buffer', '/json', '/stream', '/accepted', '/no-content', '/null']) {
          const key = randomUUID();
          const first = await app.post(key, path);
          const retry = await app.post(key, path);
          assert.equal(retry.header('idempotent-replayed'), 'true', `${path} must replay`);
          assert.equal(retry.status, first.status, path);
          assert.equal(Buffer.compare(retry.body, first.body), 0, path);
          assert.equal(retry.header('content-type'), first.header('content-type'), path);
        }
        assert.equal(app.runs(), 7);
      } finally {
        await app.close();
      }
    });

    it('a route that sets nothing is Koa’s 404, stored as such', async () => {
      const app = await start(Koa, {});
      try {
        const key = randomUUID();
        const first = await app.post(key, '/missing');
        assert.equal(first.status, 404);
        const retry = await app.post(key, '/missing');
        assert.equal(retry.status, 404);
        assert.equal(retry.body.toString(), first.body.toString());
        assert.equal(retry.header('idempotent-replayed'), 'true');
      } finally {
        await app.close();
      }
    });

    it('thrown errors and ctx.throw release the key and reach the app’s error handling', async () => {
      let fail = true;
      const app = await start(Koa, {
        '/throw': (ctx) => {
          if (fail) throw new Error('thrown');
          ctx.body = 'ok';
        },
        '/ctx-throw': (ctx) => {
          // A 4xx thrown as an error is still an error: released, not stored.
          if (fail) ctx.throw(400, 'bad');
          ctx.body = 'ok';
        },
      });
      try {
        for (const path of ['/throw', '/ctx-throw']) {
          fail = true;
          const key = randomUUID();
          const failed = await app.post(key, path);
          assert.match(failed.body.toString(), /^handled: /, 'the app’s error handling answered');
          fail = false;
          const retry = await app.post(key, path);
          assert.equal(retry.body.toString(), 'ok', `${path}: the retry runs again`);
          assert.equal(retry.header('idempotent-replayed'), undefined);
        }
        assert.equal(app.errors.length, 2);
        assert.equal(app.runs(), 4);
      } finally {
        await app.close();
      }
    });

    it('fingerprints the body parser’s bytes, or reads unparsed bytes into ctx.request.rawBody', async () => {
      const app = await start(Koa, {
        '/echo': (ctx) => {
          const raw = (ctx.request as KoaContextLike['request']).rawBody;
          ctx.body = `${Buffer.isBuffer(raw) ? 'buffer' : typeof raw}: ${String(raw)}`;
        },
      });
      try {
        const key = randomUUID();
        const parsed = await app.post(key, '/echo', '{"a":1}');
        assert.equal(parsed.body.toString(), 'string: {"a":1}', 'the body parser kept the text');
        assert.equal((await app.post(key, '/echo', '{ "a": 1 }')).header('idempotent-replayed'), 'true');
        assert.equal((await app.post(key, '/echo', '{"a":2}')).status, 422);

        const binaryKey = randomUUID();
        const unparsed = await app.post(binaryKey, '/echo', 'raw', 'application/octet-stream');
        assert.equal(unparsed.body.toString(), 'buffer: raw', 'idemkit read what no parser took');
        assert.equal((await app.post(binaryKey, '/echo', 'other', 'application/octet-stream')).status, 422);
      } finally {
        await app.close();
      }
    });

    it('a stream cut off by a disconnect releases the key instead of leaving it in flight', async () => {
      const streamStarted = deferred();
      const app = await start(
        Koa,
        {
          '/endless': (ctx) => {
            const body = new Readable({ read() {} });
            body.push('partial');
            ctx.type = 'text/plain';
            ctx.body = body;
            streamStarted.resolve();
          },
        },
        { wait: 0 },
      );
      try {
        const outcome = await send(app.url, {
          path: '/endless',
          headers: [
            ['content-type', 'application/json'],
            ['idempotency-key', randomUUID()],
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
