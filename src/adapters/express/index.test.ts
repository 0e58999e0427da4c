import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import express5 from 'express';
import express4 from 'express4';
import { close, listen } from '../../../test/helpers/listen.js';
import { createIdempotency } from '../../core/engine.js';
import type { IdempotencyEvent } from '../../core/events.js';
import type { RouteOptions } from '../../core/options.js';
import { memoryStore } from '../../stores/memory/index.js';
import { deferred } from '../../testing/deferred.js';
import { type ContractResponse, runAdapterContract, send, sendOk } from '../../testing/index.js';
import { type ExpressRequest, idempotency } from './index.js';

// Both majors share one API surface as far as these tests go; 4's types differ only in detail.
type Express = typeof express5;
const versions: Array<[string, Express, 'route' | 'app']> = [
  ['express 4', express4 as unknown as Express, 'app'],
  ['express 5', express5, 'route'],
];

function sendOut(res: express5.Response, out: ContractResponse): void {
  res.status(out.status);
  for (const [name, value] of out.headers) res.append(name, value);
  if (typeof out.body === 'string') res.send(out.body);
  else if (out.body instanceof Uint8Array) res.send(Buffer.from(out.body));
  else Readable.from(out.body).pipe(res);
}

for (const [name, express, form] of versions) {
  runAdapterContract({
    name: `${name} (${form === 'route' ? 'route middleware' : 'app.use'})`,
    describe,
    it,
    requestHeader: (request: ExpressRequest, header) => request.headers[header] as string | undefined,
    async serve({ engine, routeOptions, handler }) {
      const app = express();
      app.set('env', 'test'); // Express's final handler logs every error outside 'test'.
      const contractRoute: express5.RequestHandler = async (req, res, next) => {
        const raw = (req as ExpressRequest).rawBody;
        const request = {
          method: req.method,
          url: req.originalUrl,
          body: raw ? raw.toString() : req.body === undefined ? '' : JSON.stringify(req.body),
        };
        // Express 5 routes a rejected promise to its error handling; Express 4 needs next(err).
        if (name === 'express 5') sendOut(res, await handler(request));
        else handler(request).then((out) => sendOut(res, out), next);
      };
      if (form === 'route') {
        app.all(/.*/, express.json(), idempotency(engine, routeOptions), contractRoute);
      } else {
        app.use(express.json());
        app.use(idempotency(engine, routeOptions));
        app.use(contractRoute);
      }
      const server = createServer(app);
      const url = await listen(server);
      return { url, close: () => close(server) };
    },
  });
}

interface App {
  url: string;
  runs: () => number;
  events: IdempotencyEvent[];
  errors: unknown[];
  post(key: string, path?: string, body?: string, contentType?: string): ReturnType<typeof sendOk>;
  close(): Promise<void>;
}

/** An app whose routes (registered by `routes`) count their runs; errors land in `errors`. */
async function start(
  express: Express,
  routes: (app: express5.Express, count: () => void) => void,
  routeOptions: RouteOptions = {},
): Promise<App> {
  const events: IdempotencyEvent[] = [];
  const errors: unknown[] = [];
  let runs = 0;
  const engine = createIdempotency({ store: memoryStore(), onEvent: (event) => events.push(event) });
  const app = express();
  app.set('env', 'test');
  app.use(express.json());
  app.use(idempotency(engine, routeOptions));
  routes(app, () => runs++);
  app.use((error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
    errors.push(error);
    res
      .status(500)
      .type('text/plain')
      .send(`handled: ${(error as Error).message}`);
  });
  const server = createServer(app);
  const url = await listen(server);
  return {
    url,
    runs: () => runs,
    events,
    errors,
    post: (key, path = '/x', body = '{"a":1}', contentType = 'application/json') =>
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
}

for (const [name, express] of versions) {
  describe(`${name}: framework specifics`, () => {
    it('replays res.json, res.send(Buffer), res.redirect, res.end() and a 204, never re-running them', async () => {
      const app = await start(express, (app, count) => {
        app.post('/json', (_req, res) => {
          count();
          res.status(201).json({ ok: true });
        });
        app.post('/buffer', (_req, res) => {
          count();
          res.type('application/octet-stream').send(Buffer.from([0, 255, 1, 254]));
        });
        app.post('/redirect', (_req, res) => {
          count();
          res.redirect(303, '/elsewhere');
        });
        app.post('/end', (_req, res) => {
          count();
          res.status(202).end();
        });
        app.post('/no-content', (_req, res) => {
          count();
          res.sendStatus(204);
        });
      });
      try {
        for (const path of ['/json', '/buffer', '/redirect', '/end', '/no-content']) {
          const key = randomUUID();
          const first = await app.post(key, path);
          const retry = await app.post(key, path);
          assert.equal(retry.header('idempotent-replayed'), 'true', `${path} must replay`);
          assert.equal(retry.status, first.status, path);
          assert.equal(Buffer.compare(retry.body, first.body), 0, path);
          assert.equal(retry.header('content-type'), first.header('content-type'), path);
          assert.equal(retry.header('location'), first.header('location'), path);
        }
        assert.equal(app.runs(), 5);
      } finally {
        await app.close();
      }
    });

    it('captures a piped stream, and passes one past maxResponseBytes through untouched', async () => {
      const big = Buffer.alloc(40_000, 'y');
      const app = await start(
        express,
        (app, count) => {
          app.post('/stream', (_req, res) => {
            count();
            res.type('text/plain');
            Readable.from(['a', 'b', 'c'].map((part) => Buffer.from(part))).pipe(res);
          });
          app.post('/big', (_req, res) => {
            count();
            res.type('text/plain');
            Readable.from([big.subarray(0, 20_000), big.subarray(20_000)]).pipe(res);
          });
        },
        { maxResponseBytes: 30_000 },
      );
      try {
        const key = randomUUID();
        assert.equal((await app.post(key, '/stream')).body.toString(), 'abc');
        const replay = await app.post(key, '/stream');
        assert.equal(replay.header('idempotent-replayed'), 'true');
        assert.equal(replay.body.toString(), 'abc');

        const bigKey = randomUUID();
        const first = await app.post(bigKey, '/big');
        assert.equal(Buffer.compare(first.body, big), 0, 'the client gets the whole body');
        const again = await app.post(bigKey, '/big');
        assert.equal(again.header('idempotent-replayed'), undefined, 'too large: the key was released');
        assert.equal(app.runs(), 3);
      } finally {
        await app.close();
      }
    });

    it('next(err) and thrown errors reach the error handler and release the key', async () => {
      let fail = true;
      const app = await start(express, (app, count) => {
        app.post('/next', (_req, res, next) => {
          count();
          if (fail) return next(new Error('passed on'));
          res.status(201).json({ ok: true });
        });
        app.post('/throw', (_req, res) => {
          count();
          if (fail) throw new Error('thrown');
          res.status(201).json({ ok: true });
        });
      });
      try {
        for (const path of ['/next', '/throw']) {
          fail = true;
          const key = randomUUID();
          const failed = await app.post(key, path);
          assert.equal(failed.status, 500);
          assert.match(failed.body.toString(), /^handled: /, 'the app’s error handler answered');
          fail = false;
          const retry = await app.post(key, path);
          assert.equal(retry.status, 201, `${path}: the retry runs again`);
          assert.equal(retry.header('idempotent-replayed'), undefined);
        }
        assert.equal(app.errors.length, 2);
        assert.equal(app.runs(), 4);
        assert.ok(app.events.some((event) => event.type === 'not-stored' && event.status === 500));
      } finally {
        await app.close();
      }
    });

    it('fingerprints raw bytes when no body parser ran, and leaves them on req.rawBody', async () => {
      const app = await start(express, (app, count) => {
        app.post('/text', (req, res) => {
          count();
          res.type('text/plain').send(`got ${(req as ExpressRequest).rawBody?.toString()}`);
        });
      });
      try {
        const key = randomUUID();
        // express.json() skips text/plain (Express 4 still sets req.body = {}): the bytes decide.
        const first = await app.post(key, '/text', 'hello', 'text/plain');
        assert.equal(first.body.toString(), 'got hello');
        assert.equal(
          (await app.post(key, '/text', 'hello', 'text/plain')).header('idempotent-replayed'),
          'true',
        );
        const other = await app.post(key, '/text', 'bye', 'text/plain');
        assert.equal(other.status, 422, 'another body under the same key is a mismatch');
        assert.equal(app.runs(), 1);
      } finally {
        await app.close();
      }
    });

    it('routers mounted on different paths keep the full path as identity', async () => {
      const engine = createIdempotency({ store: memoryStore() });
      let runs = 0;
      const app = express();
      for (const prefix of ['/v1', '/v2']) {
        const router = express.Router();
        router.use(express.json(), idempotency(engine));
        router.post('/charges', (_req, res) => {
          res.status(201).json({ n: ++runs });
        });
        app.use(prefix, router);
      }
      const server = createServer(app);
      const url = await listen(server);
      try {
        const key = randomUUID();
        for (const path of ['/v1/charges', '/v2/charges']) {
          const response = await sendOk(url, {
            path,
            headers: [
              ['content-type', 'application/json'],
              ['idempotency-key', key],
            ],
            body: '{}',
          });
          assert.equal(response.header('idempotent-replayed'), undefined, `${path} is its own operation`);
        }
        assert.equal(runs, 2);
      } finally {
        await close(server);
      }
    });

    it('a response cut off by a disconnect never leaves the key stuck in flight', async () => {
      const partialSent = deferred();
      const app = await start(
        express,
        (app, count) => {
          app.post('/slow-stream', (_req, res) => {
            count();
            res.type('text/plain');
            res.write('partial');
            partialSent.resolve();
            // The first run never ends: its client gives up, so the lease must lapse, not renew forever.
            if (app.locals.ended) res.end(' and whole');
            app.locals.ended = true;
          });
        },
        { lease: 300, wait: 0 },
      );
      try {
        const key = randomUUID();
        const outcome = await send(app.url, {
          path: '/slow-stream',
          headers: [
            ['content-type', 'application/json'],
            ['idempotency-key', key],
          ],
          body: '{"a":1}',
          abortOn: partialSent.promise,
        });
        assert.equal(outcome, 'aborted');
        await new Promise((resolve) => setTimeout(resolve, 500));
        const retry = await app.post(key, '/slow-stream');
        assert.equal(retry.status, 200, 'the lapsed lease was taken over');
        assert.equal(retry.body.toString(), 'partial and whole');
        assert.equal(app.runs(), 2);
      } finally {
        await app.close();
      }
    });
  });
}
