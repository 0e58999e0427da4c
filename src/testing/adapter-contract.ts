import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createIdempotency, type Idempotency } from '../core/engine.js';
import type { IdempotencyEvent } from '../core/events.js';
import type { IdempotencyOptions, RouteOptions } from '../core/options.js';
import type { Awaitable, IdempotencyStore } from '../core/store.js';
import { memoryStore } from '../stores/memory/index.js';
import { deferred } from './deferred.js';
import { type RawRequest, type RawResponse, send, sendOk } from './http-client.js';
import { defineCase, type SuiteFunctions } from './suite.js';

/** What the contract's handler receives, whatever the framework. */
export interface ContractRequest {
  method: string;
  /** Path and query, as requested. */
  url: string;
  /** The request body as text (re-serialised JSON is fine where the framework parsed it). */
  body: string;
}

/** What the contract's handler answers; the harness sends it the framework's native way. */
export interface ContractResponse {
  status: number;
  headers: Array<[string, string]>;
  /** A string or bytes, or chunks to be streamed (piped) as they come. */
  body: string | Uint8Array | AsyncIterable<Uint8Array>;
}

export type ContractHandler = (request: ContractRequest) => Promise<ContractResponse>;

export interface ServeSetup {
  engine: Idempotency;
  routeOptions: RouteOptions;
  /**
   * Call this for every request, on every path and method. If it rejects, fail the request the
   * framework's native way (throw, `next(err)`, …): do not turn the error into a response yourself.
   */
  handler: ContractHandler;
}

export interface ServedApp {
  /** Base URL on loopback, e.g. `http://127.0.0.1:40123`. */
  url: string;
  close(): Promise<void>;
}

export const adapterContractCases = [
  'first request runs the handler and echoes the key',
  'a retry replays status, body and headers byte for byte',
  'quoted and bare keys are the same key',
  'a 255-character key is accepted and 256 is rejected',
  'malformed keys get 400 problem+json and run nothing',
  'a missing key runs unprotected on an optional route',
  'a missing key is rejected on a required route',
  'methods that take no key ignore it',
  'JSON member order and whitespace do not change the fingerprint',
  'the same key with a different body is 422 and the original still replays',
  'another query string never replays',
  'another path or tenant is an independent operation',
  'a duplicate waits for the original and gets its response',
  'a duplicate that outwaits its budget gets 409 with Retry-After',
  'a different body while the original is in flight is 422',
  'a lapsed lease is taken over and the stale owner cannot overwrite',
  'a slow handler that keeps renewing its lease is never taken over',
  '5xx responses and thrown errors release the key',
  '4xx responses are stored except 408, 409, 425 and 429',
  '204 and empty-body successes are replayed, never re-run',
  'records expire after ttl',
  'a failing store answers 503, or runs unprotected when open',
  'a hanging store answers 503 within storeTimeout and recovers',
  'a response over maxResponseBytes is delivered whole but not stored',
  'a streamed response is stored and replayed',
  'a client that disconnects still has its response stored',
  'request headers cannot fake a replay',
  'concurrent duplicates run the handler once per key',
] as const;

export type AdapterContractCase = (typeof adapterContractCases)[number];

export interface AdapterContractOptions extends SuiteFunctions {
  /** Shown in the suite's title. */
  name: string;
  /** Start an app on 127.0.0.1 where `idempotency(engine, routeOptions)` guards a catch-all route calling `handler`. */
  serve(setup: ServeSetup): Promise<ServedApp>;
  /** Read a request header from the framework's own request object (the contract scopes tenants by `x-tenant`). */
  // biome-ignore lint/suspicious/noExplicitAny: each harness knows its own framework's request type.
  requestHeader(native: any, name: string): string | undefined;
  /** The store each case starts with (default: a fresh memory store). */
  createStore?: () => IdempotencyStore | Promise<IdempotencyStore>;
  /** Cases to skip, each with the reason it does not apply. */
  skip?: Partial<Record<AdapterContractCase, string>>;
  /** Size of the concurrency case (default 200 keys × 25 simultaneous duplicates). */
  concurrency?: { keys: number; duplicates: number };
}

interface Harness {
  url: string;
  /** How many times the handler started. */
  runs(): number;
  events: IdempotencyEvent[];
  clock: { now: number };
  send(request: RawRequest): Promise<RawResponse>;
  post(key: string | undefined, body?: string, extra?: Partial<RawRequest>): Promise<RawResponse>;
}

interface StartOptions {
  engine?: Partial<IdempotencyOptions>;
  route?: RouteOptions;
  handler?: ContractHandler;
  store?: IdempotencyStore;
}

const json = 'application/json';
const problemJson = 'application/problem+json';

/**
 * Prove that a framework adapter keeps every promise of the behaviour contract, over real sockets.
 * The suite owns the handler; the harness you pass only translates it into your framework.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { describe, it } from 'node:test';
 * import { idempotency } from 'idemkit/node';
 * import { runAdapterContract } from 'idemkit/testing';
 *
 * runAdapterContract({
 *   name: 'node', describe, it,
 *   requestHeader: (req, name) => req.headers[name],
 *   async serve({ engine, routeOptions, handler }) {
 *     const server = createServer(idempotency(engine, routeOptions)(async (req, res) => {
 *       const out = await handler({ method: req.method, url: req.url, body: req.rawBody.toString() });
 *       res.writeHead(out.status, out.headers);
 *       if (typeof out.body === 'string' || out.body instanceof Uint8Array) res.end(out.body);
 *       else Readable.from(out.body).pipe(res);
 *     }));
 *     await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
 *     return { url: `http://127.0.0.1:${server.address().port}`, close: () => closeServer(server) };
 *   },
 * });
 * ```
 */
export function runAdapterContract(options: AdapterContractOptions): void {
  const { describe, it, skip = {} } = options;
  const concurrency = options.concurrency ?? { keys: 200, duplicates: 25 };

  async function withApp(setup: StartOptions, body: (app: Harness) => Promise<void>): Promise<void> {
    const events: IdempotencyEvent[] = [];
    const clock = { now: Date.now() };
    let runs = 0;
    const handler = setup.handler ?? chargeHandler();
    const engine = createIdempotency({
      store: setup.store ?? (await (options.createStore ?? memoryStore)()),
      now: () => clock.now,
      onEvent: (event) => events.push(event),
      ...setup.engine,
    });
    const routeOptions: RouteOptions = {
      scope: (native) => options.requestHeader(native, 'x-tenant') ?? 'default',
      ...setup.route,
    };
    const app = await options.serve({
      engine,
      routeOptions,
      handler: (request) => {
        runs++;
        return handler(request);
      },
    });
    const harness: Harness = {
      url: app.url,
      runs: () => runs,
      events,
      clock,
      send: (request) => sendOk(app.url, request),
      post: (key, body = '{"amount":100}', extra = {}) =>
        sendOk(app.url, {
          path: '/v1/charges',
          ...extra,
          headers: [
            ['content-type', json],
            ...(key === undefined ? [] : ([['idempotency-key', key]] as Array<[string, string]>)),
            ...(extra.headers ?? []),
          ],
          body,
        }),
    };
    try {
      await body(harness);
    } finally {
      await app.close();
    }
  }

  const cases: Record<AdapterContractCase, () => Promise<void>> = {
    'first request runs the handler and echoes the key': () =>
      withApp({}, async (app) => {
        const key = randomUUID();
        const response = await app.post(key);
        assert.equal(response.status, 201);
        assert.equal(response.header('idempotency-key'), key);
        assert.equal(response.header('idempotent-replayed'), undefined);
        assert.equal(response.json().body, '{"amount":100}');
        assert.equal(app.runs(), 1);
        assert.ok(
          app.events.some((event) => event.type === 'executed' && event.stored === true),
          'no executed event was reported',
        );
      }),

    'a retry replays status, body and headers byte for byte': () =>
      withApp({ handler: binaryHandler() }, async (app) => {
        const key = randomUUID();
        const first = await app.post(key);
        const retry = await app.post(key);
        assert.equal(app.runs(), 1, 'the handler ran twice');
        assert.equal(retry.status, 201);
        assert.equal(Buffer.compare(retry.body, first.body), 0, 'replayed body differs');
        assert.equal(retry.header('idempotent-replayed'), 'true');
        assert.equal(retry.header('idempotency-key'), key);
        assert.equal(retry.header('location'), '/v1/things/1');
        assert.equal(retry.header('x-custom'), 'kept, as is');
        assert.equal(retry.header('content-type'), 'application/octet-stream');
        assert.equal(retry.header('content-length'), String(first.body.length));
        assert.equal(first.header('set-cookie'), 'session=secret', 'the first response keeps its cookie');
        assert.equal(retry.header('set-cookie'), undefined, 'Set-Cookie must never be replayed');
        assert.ok(
          app.events.some((event) => event.type === 'replayed'),
          'no replayed event was reported',
        );
      }),

    'quoted and bare keys are the same key': () =>
      withApp({}, async (app) => {
        const key = randomUUID();
        await app.post(key);
        const quoted = await app.post(`"${key}"`);
        assert.equal(quoted.header('idempotent-replayed'), 'true');
        assert.equal(app.runs(), 1);
        const escaped = await app.post('"a\\"b"');
        assert.equal(escaped.status, 201);
        assert.equal((await app.post('"a\\"b"')).header('idempotent-replayed'), 'true');
      }),

    'a 255-character key is accepted and 256 is rejected': () =>
      withApp({}, async (app) => {
        assert.equal((await app.post('k'.repeat(255))).status, 201);
        const tooLong = await app.post('k'.repeat(256));
        assertProblem(tooLong, 400, 'idempotency-key-invalid');
        assert.equal(app.runs(), 1);
      }),

    'malformed keys get 400 problem+json and run nothing': () =>
      withApp({}, async (app) => {
        const malformed: Array<[string, Array<[string, string]>]> = [
          ['empty', [['idempotency-key', '']]],
          ['empty string', [['idempotency-key', '""']]],
          ['non-ASCII', [['idempotency-key', 'clé']]],
          ['control character', [['idempotency-key', '"a\tb"']]],
          [
            'two header lines',
            [
              ['idempotency-key', 'a'],
              ['idempotency-key', 'b'],
            ],
          ],
          ['a list', [['idempotency-key', '"a", "b"']]],
          ['unterminated', [['idempotency-key', '"abc']]],
          ['spaces', [['idempotency-key', 'a b']]],
        ];
        for (const [label, headers] of malformed) {
          const response = await app.send({ path: '/v1/charges', headers, body: '{}' });
          assertProblem(response, 400, 'idempotency-key-invalid', label);
        }
        assert.equal(app.runs(), 0, 'a malformed key must not run the handler');
        assert.ok(
          app.events.some((event) => event.type === 'invalid-key'),
          'no invalid-key event was reported',
        );
      }),

    'a missing key runs unprotected on an optional route': () =>
      withApp({}, async (app) => {
        const first = await app.post(undefined);
        const second = await app.post(undefined);
        assert.equal(first.status, 201);
        assert.equal(second.status, 201);
        assert.equal(second.header('idempotent-replayed'), undefined);
        assert.equal(first.header('idempotency-key'), undefined);
        assert.equal(app.runs(), 2);
      }),

    'a missing key is rejected on a required route': () =>
      withApp({ route: { required: true } }, async (app) => {
        assertProblem(await app.post(undefined), 400, 'idempotency-key-missing');
        assert.equal(app.runs(), 0);
        assert.equal((await app.post(randomUUID())).status, 201);
      }),

    'methods that take no key ignore it': () =>
      withApp({ route: { required: true } }, async (app) => {
        for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS']) {
          for (const key of ['same-key', '""']) {
            const response = await app.send({
              method,
              path: '/v1/charges',
              headers: [['idempotency-key', key]],
            });
            assert.equal(response.status, 201, `${method} with key ${key}`);
            assert.equal(response.header('idempotent-replayed'), undefined);
          }
        }
        assert.equal(app.runs(), 8, 'every ignored-method request runs');
        const patch = await app.send({
          method: 'PATCH',
          path: '/v1/charges/1',
          headers: [['idempotency-key', 'p']],
          body: '{}',
        });
        const patchAgain = await app.send({
          method: 'PATCH',
          path: '/v1/charges/1',
          headers: [['idempotency-key', 'p']],
          body: '{}',
        });
        assert.equal(patch.status, 201);
        assert.equal(patchAgain.header('idempotent-replayed'), 'true', 'PATCH takes keys by default');
      }),

    'JSON member order and whitespace do not change the fingerprint': () =>
      withApp({}, async (app) => {
        const key = randomUUID();
        await app.post(key, '{"amount":100,"currency":"usd","meta":{"a":1,"b":[1,2]}}');
        const reordered = await app.post(
          key,
          '{ "meta": { "b": [1, 2], "a": 1 },\n  "currency": "usd", "amount": 100 }',
        );
        assert.equal(reordered.status, 201);
        assert.equal(reordered.header('idempotent-replayed'), 'true');
        assert.equal(app.runs(), 1);
      }),

    'the same key with a different body is 422 and the original still replays': () =>
      withApp({}, async (app) => {
        const key = randomUUID();
        const first = await app.post(key, '{"amount":100}');
        assertProblem(await app.post(key, '{"amount":200}'), 422, 'idempotency-key-reused');
        const replay = await app.post(key, '{"amount":100}');
        assert.equal(replay.header('idempotent-replayed'), 'true');
        assert.equal(Buffer.compare(replay.body, first.body), 0, 'a 422 must not touch the stored record');
        assert.equal(app.runs(), 1);
        assert.ok(
          app.events.some((event) => event.type === 'mismatch'),
          'no mismatch event was reported',
        );
      }),

    'another query string never replays': () =>
      withApp({}, async (app) => {
        const key = randomUUID();
        await app.post(key, '{}', { path: '/v1/charges?expand=a' });
        assertProblem(
          await app.post(key, '{}', { path: '/v1/charges?expand=b' }),
          422,
          'idempotency-key-reused',
        );
        assertProblem(await app.post(key, '{}', { path: '/v1/charges' }), 422, 'idempotency-key-reused');
        assert.equal(app.runs(), 1);
      }),

    'another path or tenant is an independent operation': () =>
      withApp({}, async (app) => {
        const key = randomUUID();
        await app.post(key);
        const otherPath = await app.post(key, '{"amount":100}', { path: '/v1/refunds' });
        const otherTenant = await app.post(key, '{"amount":100}', { headers: [['x-tenant', 'acme']] });
        const otherTenantBody = await app.post(key, '{"amount":999}', { headers: [['x-tenant', 'globex']] });
        for (const response of [otherPath, otherTenant, otherTenantBody]) {
          assert.equal(response.status, 201);
          assert.equal(response.header('idempotent-replayed'), undefined);
        }
        assert.equal(app.runs(), 4);
        const tenantReplay = await app.post(key, '{"amount":100}', { headers: [['x-tenant', 'acme']] });
        assert.equal(Buffer.compare(tenantReplay.body, otherTenant.body), 0);
      }),

    'a duplicate waits for the original and gets its response': () => {
      const gate = deferred();
      return withApp({ handler: chargeHandler(() => gate.promise) }, async (app) => {
        const key = randomUUID();
        const original = app.post(key);
        await until(() => app.runs() === 1);
        const duplicate = app.post(key);
        await sleep(100);
        gate.resolve();
        const [first, second] = await Promise.all([original, duplicate]);
        assert.equal(app.runs(), 1);
        assert.equal(second.status, 201);
        assert.equal(Buffer.compare(second.body, first.body), 0);
        assert.equal(second.header('idempotent-replayed'), 'true');
        assert.ok(
          app.events.some((event) => event.type === 'waited'),
          'no waited event was reported',
        );
      });
    },

    'a duplicate that outwaits its budget gets 409 with Retry-After': () => {
      const gate = deferred();
      return withApp({ handler: chargeHandler(() => gate.promise), route: { wait: 150 } }, async (app) => {
        const key = randomUUID();
        const original = app.post(key);
        await until(() => app.runs() === 1);
        const startedAt = performance.now();
        const duplicate = await app.post(key);
        const waitedMs = performance.now() - startedAt;
        assertProblem(duplicate, 409, 'idempotency-key-in-flight');
        assert.ok(Number(duplicate.header('retry-after')) >= 1, 'Retry-After must be set');
        assert.ok(waitedMs >= 140, `answered 409 after ${waitedMs.toFixed(0)} ms, before the wait budget`);
        gate.resolve();
        assert.equal((await original).status, 201);
        assert.equal(
          (await app.post(key)).header('idempotent-replayed'),
          'true',
          'a 409 must not touch the record',
        );
        assert.equal(app.runs(), 1);
      });
    },

    'a different body while the original is in flight is 422': () => {
      const gate = deferred();
      return withApp({ handler: chargeHandler(() => gate.promise), route: { wait: 0 } }, async (app) => {
        const key = randomUUID();
        const original = app.post(key, '{"amount":1}');
        await until(() => app.runs() === 1);
        assertProblem(await app.post(key, '{"amount":2}'), 422, 'idempotency-key-reused');
        assertProblem(await app.post(key, '{"amount":1}'), 409, 'idempotency-key-in-flight');
        gate.resolve();
        await original;
        assert.equal(app.runs(), 1);
      });
    },

    'a lapsed lease is taken over and the stale owner cannot overwrite': () => {
      const stale = deferred();
      let calls = 0;
      const handler: ContractHandler = async () => {
        const mine = ++calls;
        if (mine === 1) await stale.promise;
        return {
          status: 201,
          headers: [['content-type', 'text/plain']],
          body: mine === 1 ? 'stale' : 'fresh',
        };
      };
      return withApp({ handler, route: { lease: 30_000, wait: 0 } }, async (app) => {
        const key = randomUUID();
        const original = app.post(key);
        await until(() => app.runs() === 1);
        app.clock.now += 30_001; // The original's process "died": its lease lapsed unrenewed.
        const takeover = await app.post(key);
        assert.equal(takeover.status, 201);
        assert.equal(takeover.body.toString(), 'fresh');
        assert.equal(app.runs(), 2, 'a retry must take over a lapsed lease');
        stale.resolve();
        assert.equal((await original).body.toString(), 'stale');
        await until(() => app.events.some((event) => event.type === 'lease-lost'));
        const replay = await app.post(key);
        assert.equal(replay.body.toString(), 'fresh', 'the stale owner overwrote the new owner’s result');
        assert.equal(app.runs(), 2);
      });
    },

    'a slow handler that keeps renewing its lease is never taken over': () =>
      withApp(
        {
          engine: { now: Date.now },
          handler: chargeHandler(() => sleep(900)),
          route: { lease: 200, wait: 0 },
        },
        async (app) => {
          const key = randomUUID();
          const original = app.post(key);
          await sleep(500); // Well past the 200 ms lease: only renewal keeps it.
          assertProblem(await app.post(key), 409, 'idempotency-key-in-flight');
          assert.equal(app.runs(), 1, 'a live, renewing handler was taken over');
          const first = await original;
          const replay = await app.post(key);
          assert.equal(replay.header('idempotent-replayed'), 'true');
          assert.equal(Buffer.compare(replay.body, first.body), 0);
          assert.equal(app.runs(), 1);
        },
      ),

    '5xx responses and thrown errors release the key': () => {
      let mode: 'fail' | 'throw' | 'ok' = 'fail';
      const handler: ContractHandler = async (request) => {
        if (mode === 'fail') return { status: 503, headers: [['content-type', 'text/plain']], body: 'busy' };
        if (mode === 'throw') throw new Error('handler exploded');
        return chargeHandler()(request);
      };
      return withApp({ handler }, async (app) => {
        const key = randomUUID();
        assert.equal((await app.post(key)).status, 503);
        mode = 'throw';
        assert.ok((await app.post(key)).status >= 500, 'a thrown error must fail the request');
        mode = 'ok';
        const success = await app.post(key);
        assert.equal(success.status, 201);
        assert.equal(success.header('idempotent-replayed'), undefined);
        assert.equal(app.runs(), 3, 'each failure must release the key so the retry runs again');
        assert.equal((await app.post(key)).header('idempotent-replayed'), 'true');
      });
    },

    '4xx responses are stored except 408, 409, 425 and 429': () => {
      const handler: ContractHandler = async (request) => ({
        status: Number(new URL(request.url, 'http://x').searchParams.get('status')),
        headers: [['content-type', json]],
        body: '{"error":"client"}',
      });
      return withApp({ handler }, async (app) => {
        for (const status of [400, 402, 404, 410, 422, 301]) {
          const key = randomUUID();
          await app.post(key, '{}', { path: `/v1/charges?status=${status}` });
          const retry = await app.post(key, '{}', { path: `/v1/charges?status=${status}` });
          assert.equal(retry.status, status);
          assert.equal(retry.header('idempotent-replayed'), 'true', `${status} must be stored`);
        }
        for (const status of [408, 409, 425, 429, 500]) {
          const key = randomUUID();
          await app.post(key, '{}', { path: `/v1/charges?status=${status}` });
          const retry = await app.post(key, '{}', { path: `/v1/charges?status=${status}` });
          assert.equal(retry.header('idempotent-replayed'), undefined, `${status} must not be stored`);
        }
        assert.equal(app.runs(), 6 + 10);
      });
    },

    '204 and empty-body successes are replayed, never re-run': () => {
      const handler: ContractHandler = async (request) =>
        request.url.endsWith('204')
          ? { status: 204, headers: [['x-done', 'yes']], body: '' }
          : { status: 200, headers: [['x-done', 'yes']], body: '' };
      return withApp({ handler }, async (app) => {
        for (const path of ['/v1/things/204', '/v1/things/200']) {
          const key = randomUUID();
          const first = await app.post(key, '{}', { path });
          const retry = await app.post(key, '{}', { path });
          assert.equal(retry.status, first.status);
          assert.equal(retry.body.length, 0);
          assert.equal(retry.header('x-done'), 'yes');
          assert.equal(retry.header('idempotent-replayed'), 'true', `${path} must replay`);
        }
        assert.equal(app.runs(), 2);
      });
    },

    'records expire after ttl': () =>
      withApp({ route: { ttl: 60_000, lease: 5_000 } }, async (app) => {
        const key = randomUUID();
        await app.post(key, '{"amount":1}');
        app.clock.now += 59_999;
        assert.equal((await app.post(key, '{"amount":1}')).header('idempotent-replayed'), 'true');
        app.clock.now += 1;
        const afterExpiry = await app.post(key, '{"amount":2}');
        assert.equal(afterExpiry.status, 201, 'an expired key is new again, even with another body');
        assert.equal(afterExpiry.header('idempotent-replayed'), undefined);
        assert.equal(app.runs(), 2);
      }),

    'a failing store answers 503, or runs unprotected when open': async () => {
      const store = faultyStore(await (options.createStore ?? memoryStore)());
      await withApp({ store }, async (app) => {
        store.mode = 'throw';
        const key = randomUUID();
        const failed = await app.post(key);
        assertProblem(failed, 503, 'idempotency-store-unavailable');
        assert.ok(Number(failed.header('retry-after')) >= 1, 'Retry-After must be at least 1 second');
        assert.equal(app.runs(), 0, 'fail closed: the handler must not run');
        assert.ok(
          app.events.some((event) => event.type === 'store-error'),
          'no store-error event was reported',
        );
        store.mode = 'ok';
        assert.equal((await app.post(key)).status, 201, 'serves again once the store is back');
      });
      await withApp({ store, route: { onStoreError: 'open' } }, async (app) => {
        store.mode = 'throw';
        const response = await app.post(randomUUID());
        assert.equal(response.status, 201, 'fail open: the handler runs unprotected');
        assert.equal(app.runs(), 1);
        store.mode = 'ok';
      });
    },

    'a hanging store answers 503 within storeTimeout and recovers': async () => {
      const store = faultyStore(await (options.createStore ?? memoryStore)());
      await withApp({ store, route: { storeTimeout: 200 } }, async (app) => {
        store.mode = 'hang';
        const startedAt = performance.now();
        const response = await app.post(randomUUID());
        const elapsed = performance.now() - startedAt;
        assertProblem(response, 503, 'idempotency-store-unavailable');
        assert.ok(elapsed < 1500, `503 took ${elapsed.toFixed(0)} ms with storeTimeout 200`);
        assert.equal(app.runs(), 0);
        store.mode = 'ok';
        assert.equal((await app.post(randomUUID())).status, 201);
      });
    },

    'a response over maxResponseBytes is delivered whole but not stored': () => {
      const big = Buffer.alloc(64 * 1024, 'x');
      const handler: ContractHandler = async () => ({
        status: 200,
        headers: [['content-type', 'text/plain']],
        body: big,
      });
      return withApp({ handler, route: { maxResponseBytes: 16 * 1024 } }, async (app) => {
        const key = randomUUID();
        const first = await app.post(key);
        assert.equal(first.status, 200);
        assert.equal(Buffer.compare(first.body, big), 0, 'the client must get the whole body');
        const retry = await app.post(key);
        assert.equal(retry.header('idempotent-replayed'), undefined);
        assert.equal(app.runs(), 2, 'an unstored response releases the key');
        assert.ok(
          app.events.some((event) => event.type === 'not-stored' && event.reason === 'too-large'),
          'no not-stored event was reported',
        );
      });
    },

    'a streamed response is stored and replayed': () => {
      const handler: ContractHandler = async () => ({
        status: 200,
        headers: [['content-type', 'text/plain']],
        body: (async function* () {
          for (let i = 0; i < 5; i++) {
            await sleep(5);
            yield Buffer.from(`chunk ${i};`);
          }
        })(),
      });
      return withApp({ handler }, async (app) => {
        const key = randomUUID();
        const first = await app.post(key);
        assert.equal(first.body.toString(), 'chunk 0;chunk 1;chunk 2;chunk 3;chunk 4;');
        const retry = await app.post(key);
        assert.equal(
          retry.header('idempotent-replayed'),
          'true',
          'a streamed response must not leave the key stuck',
        );
        assert.equal(Buffer.compare(retry.body, first.body), 0);
        assert.equal(app.runs(), 1);
      });
    },

    'a client that disconnects still has its response stored': () => {
      const started = deferred();
      const finished = deferred();
      const handler: ContractHandler = async (request) => {
        started.resolve();
        await sleep(150);
        const response = await chargeHandler()(request);
        setTimeout(finished.resolve, 50);
        return response;
      };
      return withApp({ handler }, async (app) => {
        const key = randomUUID();
        const outcome = await send(app.url, {
          path: '/v1/charges',
          headers: [
            ['content-type', json],
            ['idempotency-key', key],
          ],
          body: '{"amount":100}',
          // Once the handler runs: a fixed delay could cut the request off before it arrived.
          abortOn: started.promise,
        });
        assert.equal(outcome, 'aborted');
        await finished.promise;
        const retry = await app.post(key);
        assert.equal(retry.status, 201);
        assert.equal(retry.header('idempotent-replayed'), 'true', 'the abandoned response must be stored');
        assert.equal(app.runs(), 1);
      });
    },

    'request headers cannot fake a replay': () =>
      withApp({}, async (app) => {
        const key = randomUUID();
        const spoofed: Array<[string, string]> = [
          ['x-hit', 'true'],
          ['idempotent-replayed', 'true'],
          ['x-idempotent-replayed', 'true'],
        ];
        const first = await app.post(key, '{"amount":100}', { headers: spoofed });
        assert.equal(first.status, 201);
        assert.equal(first.header('idempotent-replayed'), undefined);
        assert.equal(app.runs(), 1);
        const retry = await app.post(key, '{"amount":100}', { headers: spoofed });
        assert.equal(retry.header('idempotent-replayed'), 'true');
        assert.equal(app.runs(), 1);
      }),

    'concurrent duplicates run the handler once per key': () =>
      withApp({ handler: chargeHandler(() => sleep(10)) }, async (app) => {
        const keys = Array.from({ length: concurrency.keys }, () => randomUUID());
        const bodies = new Map<string, Buffer[]>();
        const parallelKeys = 8;
        for (let i = 0; i < keys.length; i += parallelKeys) {
          await Promise.all(
            keys.slice(i, i + parallelKeys).map(async (key) => {
              const responses = await Promise.all(
                Array.from({ length: concurrency.duplicates }, () => app.post(key, `{"key":"${key}"}`)),
              );
              for (const response of responses) assert.equal(response.status, 201, response.body.toString());
              bodies.set(
                key,
                responses.map((response) => response.body),
              );
            }),
          );
        }
        assert.equal(app.runs(), concurrency.keys, `${app.runs()} executions for ${concurrency.keys} keys`);
        for (const [key, responses] of bodies) {
          for (const body of responses)
            assert.equal(Buffer.compare(body, responses[0]!), 0, `responses differ for ${key}`);
        }
      }),
  };

  describe(`adapter contract: ${options.name}`, () => {
    for (const name of adapterContractCases) defineCase(it, name, skip[name], cases[name]);
  });
}

/** The contract's default handler: a charge with a Location, a custom header and a cookie. */
function chargeHandler(delay?: () => Promise<void>): ContractHandler {
  let count = 0;
  return async (request) => {
    const n = ++count;
    if (delay) await delay();
    return {
      status: 201,
      headers: [
        ['content-type', json],
        ['location', `/v1/charges/ch_${n}`],
        ['x-custom', 'yes'],
        ['set-cookie', 'session=secret'],
      ],
      body: JSON.stringify({ id: `ch_${n}`, n, at: process.hrtime.bigint().toString(), body: request.body }),
    };
  };
}

/** Answers bytes that are not valid UTF-8, to prove replays are byte-exact. */
function binaryHandler(): ContractHandler {
  return async () => ({
    status: 201,
    headers: [
      ['content-type', 'application/octet-stream'],
      ['location', '/v1/things/1'],
      ['x-custom', 'kept, as is'],
      ['set-cookie', 'session=secret'],
    ],
    body: Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 256),
  });
}

type FaultyStore = IdempotencyStore & { mode: 'ok' | 'throw' | 'hang' };

/** Wraps a store so a case can make every call fail or hang, then heal it. */
function faultyStore(inner: IdempotencyStore): FaultyStore {
  const faulty =
    <A extends unknown[], R>(call: (...args: A) => Awaitable<R>) =>
    (...args: A): Awaitable<R> => {
      if (store.mode === 'throw') return Promise.reject(new Error('connection refused (simulated)'));
      if (store.mode === 'hang') return new Promise(() => undefined);
      return call(...args);
    };
  const store: FaultyStore = {
    mode: 'ok',
    acquire: faulty((record, now) => inner.acquire(record, now)),
    complete: faulty((key, token, response, expiresAt) => inner.complete(key, token, response, expiresAt)),
    release: faulty((key, token) => inner.release(key, token)),
    renew: faulty((key, token, leaseUntil) => inner.renew(key, token, leaseUntil)),
    get: faulty((key, now) => inner.get(key, now)),
    purgeExpired: faulty((now) => inner.purgeExpired(now)),
  };
  return store;
}

function assertProblem(response: RawResponse, status: number, code: string, label = ''): void {
  assert.equal(response.status, status, `${label} status: ${response.body.toString()}`);
  assert.equal(response.header('content-type'), problemJson, `${label} content-type`);
  assert.equal(response.header('cache-control'), 'no-store', `${label} cache-control`);
  const problem = response.json();
  assert.equal(problem.type, `https://idemkit.dev/problems/${code}`, `${label} problem type`);
  assert.equal(problem.status, status);
  assert.equal(typeof problem.title, 'string');
  assert.equal(typeof problem.detail, 'string');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('timed out waiting for a condition');
    await sleep(2);
  }
}
