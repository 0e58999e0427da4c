import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { close, listen } from '../../../test/helpers/listen.js';
import { createIdempotency, type IdempotencyEvent } from '../../index.js';
import { memoryStore } from '../../stores/memory/index.js';
import { runAdapterContract, send, sendOk } from '../../testing/index.js';
import { idempotency } from './index.js';

runAdapterContract({
  name: 'node',
  describe,
  it,
  requestHeader: (request, name) => request.headers[name],
  async serve({ engine, routeOptions, handler }) {
    const server = createServer(
      idempotency(
        engine,
        routeOptions,
      )(async (req, res) => {
        const out = await handler({ method: req.method!, url: req.url!, body: req.rawBody.toString() });
        for (const [name, value] of out.headers) res.appendHeader(name, value);
        res.statusCode = out.status;
        if (typeof out.body === 'string' || out.body instanceof Uint8Array) res.end(out.body);
        else Readable.from(out.body).pipe(res);
      }),
    );
    const url = await listen(server);
    return { url, close: () => close(server) };
  },
});

describe('node adapter specifics', () => {
  const post = (url: string, key: string, abortOn?: Promise<unknown>) =>
    send(url, { path: '/', headers: [['idempotency-key', key]], body: '{}', abortOn });

  /** Promises that the handler's runs fulfil in turn: abort a request once its handler started. */
  function runSignals() {
    const opens: Array<() => void> = [];
    const started = Array.from({ length: 4 }, () => new Promise<void>((resolve) => opens.push(resolve)));
    let runs = 0;
    return { started, run: () => opens[runs++]?.(), runs: () => runs };
  }

  async function start(
    listener: Parameters<ReturnType<typeof idempotency>>[0],
    events: IdempotencyEvent[] = [],
    options: { lease?: number; wait?: number } = {},
  ) {
    const engine = createIdempotency({
      store: memoryStore(),
      onEvent: (event) => events.push(event),
      ...options,
    });
    const server = createServer(idempotency(engine)(listener));
    return { url: await listen(server), server };
  }

  it('stores a callback-style response that ends after the client left', async () => {
    const handler = runSignals();
    const { url, server } = await start((_req, res) => {
      handler.run();
      setTimeout(() => res.writeHead(201, ['x-flat', 'yes']).end('late'), 150);
    });
    try {
      assert.equal(await post(url, 'k', handler.started[0]), 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 250));
      const retry = await post(url, 'k');
      assert.ok(retry !== 'aborted');
      assert.equal(retry.body.toString(), 'late');
      assert.equal(retry.header('x-flat'), 'yes');
      assert.equal(retry.header('idempotent-replayed'), 'true');
      assert.equal(handler.runs(), 1);
    } finally {
      await close(server);
    }
  });

  it('releases the key when an async listener settles without answering a departed client', async () => {
    const events: IdempotencyEvent[] = [];
    const handler = runSignals();
    const { url, server } = await start(async () => {
      handler.run();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }, events);
    try {
      assert.equal(await post(url, 'k', handler.started[0]), 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(events.some((event) => event.type === 'not-stored' && event.reason === 'aborted'));
      assert.equal(await post(url, 'k', handler.started[1]), 'aborted');
      assert.equal(handler.runs(), 2, 'the released key runs again');
    } finally {
      await close(server);
    }
  });

  it('lets the lease lapse when a callback-style listener never answers a departed client', async () => {
    const handler = runSignals();
    const { url, server } = await start(
      (_req, res) => {
        handler.run();
        // The first run returns and never answers; renewing its lease forever would keep the key stuck.
        if (handler.runs() > 1) res.end('second');
      },
      [],
      { lease: 300, wait: 0 },
    );
    try {
      assert.equal(await post(url, 'k', handler.started[0]), 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 600));
      const retry = await sendOk(url, { path: '/', headers: [['idempotency-key', 'k']], body: '{}' });
      assert.equal(retry.status, 200, 'the lapsed lease was taken over');
      assert.equal(handler.runs(), 2);
    } finally {
      await close(server);
    }
  });

  it('hands the client a Content-Length body only once it is stored', async () => {
    const events: IdempotencyEvent[] = [];
    const { url, server } = await start(async (_req, res) => {
      res.writeHead(201, { 'content-length': '4' });
      res.write('done');
      await new Promise((resolve) => setTimeout(resolve, 150));
      res.end();
    }, events);
    try {
      const first = await post(url, 'k');
      assert.ok(first !== 'aborted');
      assert.equal(first.body.toString(), 'done');
      const retry = await post(url, 'k');
      assert.ok(retry !== 'aborted');
      assert.equal(retry.header('idempotent-replayed'), 'true');
      assert.ok(
        events.some((event) => event.type === 'replayed') && !events.some((event) => event.type === 'waited'),
        'the client had the whole answer before it was stored, so its retry had to wait',
      );
    } finally {
      await close(server);
    }
  });

  it('captures headers given to writeHead in every form, and string chunks in any encoding', async () => {
    const { url, server } = await start((_req, res) => {
      res.setHeader('x-set', 'a');
      res.writeHead(200, 'Fine', [
        ['x-pair', '1'],
        ['x-pair', '2'],
      ]);
      res.write('68656c6c6f20', 'hex');
      res.end('wörld');
    });
    try {
      const first = await post(url, 'k');
      const replay = await post(url, 'k');
      assert.ok(first !== 'aborted' && replay !== 'aborted');
      assert.equal(replay.body.toString(), 'hello wörld');
      assert.equal(Buffer.compare(replay.body, first.body), 0);
      assert.equal(replay.header('x-set'), 'a');
      assert.deepEqual(
        replay.headers.filter(([name]) => name === 'x-pair').map(([, value]) => value),
        ['1', '2'],
      );
    } finally {
      await close(server);
    }
  });
});
