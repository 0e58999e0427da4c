import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  All,
  BadRequestException,
  Controller,
  HttpCode,
  type INestApplication,
  Inject,
  Module,
  Post,
  Req,
  Res,
  StreamableFile,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { createIdempotency, type Idempotency } from '../../core/engine.js';
import type { IdempotencyEvent } from '../../core/events.js';
import type { RouteOptions } from '../../core/options.js';
import { memoryStore } from '../../stores/memory/index.js';
import { deferred } from '../../testing/deferred.js';
import { type ContractHandler, runAdapterContract, send, sendOk } from '../../testing/index.js';
import { type IdempotencyInterceptor, Idempotent, idempotency, type NestRequestLike } from './index.js';

// tsx (esbuild) emits no decorator metadata: every injection names its token explicitly.
const CONTRACT_HANDLER = Symbol('contract handler');

type Platform = 'express' | 'fastify';
type NativeResponse = {
  status?(code: number): unknown;
  append?(name: string, value: string): unknown;
  code?(code: number): unknown;
  header?(name: string, value: string): unknown;
};

/** Bind the interceptor globally: with useGlobalInterceptors on Express, as APP_INTERCEPTOR on Fastify. */
async function createApp(
  platform: Platform,
  controllers: Array<new (...args: never[]) => unknown>,
  interceptor: IdempotencyInterceptor,
  providers: Array<{ provide: symbol; useValue: unknown }> = [],
): Promise<{ app: INestApplication; url: string }> {
  @Module({
    controllers,
    providers:
      platform === 'fastify'
        ? [...providers, { provide: APP_INTERCEPTOR, useValue: interceptor }]
        : providers,
  })
  class AppModule {}

  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
  if (adapter instanceof FastifyAdapter) {
    // Take any body as bytes, so requests the contract sends without a content type reach idemkit.
    adapter
      .getInstance()
      .addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  }
  const app = await NestFactory.create(AppModule, adapter, { logger: false, forceCloseConnections: true });
  if (platform === 'express') app.useGlobalInterceptors(interceptor);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

function bodyText(request: NestRequestLike): string {
  const { body, rawBody } = request;
  if (Buffer.isBuffer(rawBody)) return rawBody.toString();
  if (Buffer.isBuffer(body)) return body.toString();
  return body === undefined ? '' : JSON.stringify(body);
}

/** The contract's catch-all route, in each platform's wildcard syntax. */
function contractController(platform: Platform) {
  @Controller()
  class ContractController {
    constructor(@Inject(CONTRACT_HANDLER) private readonly handler: ContractHandler) {}

    @All(platform === 'express' ? '*path' : '*')
    async handle(@Req() request: NestRequestLike, @Res({ passthrough: true }) response: NativeResponse) {
      const raw = (request.raw ?? request) as IncomingMessage;
      const out = await this.handler({ method: raw.method!, url: raw.url!, body: bodyText(request) });
      if (response.code) response.code(out.status);
      else response.status!(out.status);
      for (const [name, value] of out.headers) {
        if (response.header) response.header(name, value);
        else response.append!(name, value);
      }
      if (typeof out.body === 'string') return out.body;
      if (out.body instanceof Uint8Array) return new StreamableFile(Buffer.from(out.body));
      return new StreamableFile(Readable.from(out.body));
    }
  }
  return ContractController;
}

for (const platform of ['express', 'fastify'] as const) {
  runAdapterContract({
    name: `nestjs 11 on ${platform}`,
    describe,
    it,
    requestHeader: (request: NestRequestLike & IncomingMessage, name) =>
      (request.raw ?? request).headers[name] as string | undefined,
    async serve({ engine, routeOptions, handler }) {
      const { app, url } = await createApp(
        platform,
        [contractController(platform)],
        idempotency(engine, routeOptions),
        [{ provide: CONTRACT_HANDLER, useValue: handler }],
      );
      return { url, close: () => app.close() };
    },
  });
}

type PlatformResponse = NativeResponse & { send?(body: unknown): unknown; json?(body: unknown): unknown };

/** @Res() without passthrough: answer 201 with the platform's own API, bypassing Nest. */
function answerNatively(response: PlatformResponse, body: unknown): void {
  if (response.code) return void (response.code(201) as { send(body: unknown): unknown }).send(body);
  (response.status!(201) as { json(body: unknown): unknown }).json(body);
}

const COUNTER = Symbol('counter');
/** `slowStarted` resolves once the slow handler runs, for a client to leave mid-request. */
type Counter = { runs: number; fail: boolean; slowStarted: ReturnType<typeof deferred> };

@Controller('charges')
@Idempotent({ wait: 0 })
class ChargesController {
  constructor(@Inject(COUNTER) private readonly counter: Counter) {}

  @Post()
  create(@Req() request: NestRequestLike) {
    return { n: ++this.counter.runs, body: request.body };
  }

  @Post('required')
  @Idempotent({ required: true })
  required() {
    return { n: ++this.counter.runs };
  }

  @Post('unguarded')
  @Idempotent(false)
  unguarded() {
    return { n: ++this.counter.runs };
  }

  @Post('no-content')
  @HttpCode(204)
  noContent() {
    this.counter.runs++;
  }

  @Post('file')
  file() {
    this.counter.runs++;
    return new StreamableFile(Readable.from([Buffer.from([0, 255]), Buffer.from([1, 254])]));
  }

  @Post('native')
  native(@Res() response: PlatformResponse) {
    answerNatively(response, { n: ++this.counter.runs });
  }

  @Post('unanswered')
  unanswered(@Res() response: PlatformResponse) {
    const body = { n: ++this.counter.runs };
    this.counter.slowStarted.resolve();
    // The first run returns without ever answering (a bug in the handler); later runs answer.
    if (body.n > 1) answerNatively(response, body);
  }

  @Post('slow')
  async slow() {
    this.counter.slowStarted.resolve();
    await new Promise((resolve) => setTimeout(resolve, 700));
    return { n: ++this.counter.runs };
  }

  @Post('fails')
  fails() {
    this.counter.runs++;
    if (this.counter.fail) throw new BadRequestException('not this time');
    return { ok: true };
  }

  @Post('crashes')
  crashes() {
    this.counter.runs++;
    if (this.counter.fail) throw new Error('boom');
    return { ok: true };
  }
}

async function start(platform: Platform, routeOptions?: RouteOptions) {
  const events: IdempotencyEvent[] = [];
  const counter: Counter = { runs: 0, fail: false, slowStarted: deferred() };
  const engine: Idempotency = createIdempotency({
    store: memoryStore(),
    onEvent: (event) => events.push(event),
  });
  const { app, url } = await createApp(platform, [ChargesController], idempotency(engine, routeOptions), [
    { provide: COUNTER, useValue: counter },
  ]);
  return {
    url,
    events,
    counter,
    post: (path: string, key?: string, body = '{"amount":1}') =>
      sendOk(url, {
        path,
        headers: [
          ['content-type', 'application/json'],
          ...(key === undefined ? [] : ([['idempotency-key', key]] as Array<[string, string]>)),
        ],
        body,
      }),
    /** Send a keyed request and leave once the handler has started (`slowStarted`). */
    leaveMidRequest: (path: string, key: string) =>
      send(url, {
        path,
        headers: [
          ['content-type', 'application/json'],
          ['idempotency-key', key],
        ],
        body: '{}',
        abortOn: counter.slowStarted.promise,
      }),
    close: () => app.close(),
  };
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`nestjs 11 on ${platform}: framework specifics`, () => {
    it('replays a returned value, a 204 (@HttpCode), a StreamableFile and @Res() writes, never re-running them', async () => {
      const app = await start(platform);
      try {
        for (const path of ['/charges', '/charges/no-content', '/charges/file', '/charges/native']) {
          const key = randomUUID();
          const first = await app.post(path, key);
          const retry = await app.post(path, key);
          assert.equal(retry.header('idempotent-replayed'), 'true', `${path} must replay`);
          assert.equal(retry.status, first.status, path);
          assert.equal(Buffer.compare(retry.body, first.body), 0, path);
          assert.equal(retry.header('content-type'), first.header('content-type'), path);
        }
        assert.equal(app.counter.runs, 4);
      } finally {
        await app.close();
      }
    });

    it('@Idempotent on the method wins over the controller’s, and @Idempotent(false) opts out', async () => {
      const app = await start(platform);
      try {
        const missing = await app.post('/charges/required');
        assert.equal(missing.status, 400);
        assert.equal(missing.json().type, 'https://idemkit.dev/problems/idempotency-key-missing');
        const key = randomUUID();
        await app.post('/charges/unguarded', key);
        assert.equal((await app.post('/charges/unguarded', key)).header('idempotent-replayed'), undefined);
        assert.equal(app.counter.runs, 2);
      } finally {
        await app.close();
      }
    });

    it('a handler still running after its client left keeps its lease, and its response is stored', async () => {
      const app = await start(platform, { lease: 200 });
      try {
        const key = randomUUID();
        assert.equal(await app.leaveMidRequest('/charges/slow', key), 'aborted');
        await new Promise((resolve) => setTimeout(resolve, 450)); // Past the 200 ms lease.
        const during = await app.post('/charges/slow', key, '{}');
        assert.equal(during.status, 409, 'the running handler was taken over');
        await new Promise((resolve) => setTimeout(resolve, 400));
        const after = await app.post('/charges/slow', key, '{}');
        assert.equal(after.header('idempotent-replayed'), 'true');
        assert.deepEqual(after.json(), { n: 1 });
        assert.equal(app.counter.runs, 1);
      } finally {
        await app.close();
      }
    });

    it('an @Res() handler that returns without answering a departed client lets its lease lapse', async () => {
      const app = await start(platform, { lease: 200 });
      try {
        const key = randomUUID();
        assert.equal(await app.leaveMidRequest('/charges/unanswered', key), 'aborted');
        await new Promise((resolve) => setTimeout(resolve, 450)); // Past the 200 ms lease.
        const retry = await app.post('/charges/unanswered', key, '{}');
        assert.equal(retry.status, 201, 'the lapsed lease was taken over');
        assert.deepEqual(retry.json(), { n: 2 });
      } finally {
        await app.close();
      }
    });

    it('exceptions release the key and reach Nest’s exception filters', async () => {
      const app = await start(platform);
      try {
        for (const [path, status] of [
          ['/charges/fails', 400],
          ['/charges/crashes', 500],
        ] as const) {
          app.counter.fail = true;
          const key = randomUUID();
          const failed = await app.post(path, key);
          assert.equal(failed.status, status, `${path}: Nest's filter answered`);
          assert.equal(typeof failed.json().message, 'string');
          app.counter.fail = false;
          const retry = await app.post(path, key);
          assert.equal(retry.status, 201, `${path}: the retry runs again`);
          assert.equal(retry.header('idempotent-replayed'), undefined);
        }
        assert.equal(app.counter.runs, 4);
        assert.equal(app.events.filter((event) => event.type === 'not-stored').length, 2);
      } finally {
        await app.close();
      }
    });
  });
}
