import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { close, listen } from '../../test/helpers/listen.js';
import { createIdempotency } from '../core/engine.js';
import { memoryStore } from '../stores/memory/index.js';
import { sendOk } from '../testing/index.js';
import { createProxy, type ProxyEvent, type ProxyServer } from './create-proxy.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

type Route = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

/** An upstream whose routes each test sets, counting how often each path ran. */
class Upstream {
  server: Server;
  url = '';
  routes = new Map<string, Route>();
  runs = new Map<string, number>();
  seen: IncomingMessage[] = [];

  constructor() {
    this.server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0]!;
      this.runs.set(path, (this.runs.get(path) ?? 0) + 1);
      this.seen.push(request);
      const route = this.routes.get(path);
      if (!route) return void response.writeHead(404).end('no route');
      void route(request, response);
    });
  }
}

async function readAll(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('createProxy', () => {
  const upstream = new Upstream();
  const events: ProxyEvent[] = [];
  const stopping = new AbortController();
  let proxy: ProxyServer;
  let url: string;

  before(async () => {
    upstream.url = await listen(upstream.server);
    const engine = createIdempotency({ store: memoryStore() });
    proxy = createProxy({
      engine,
      upstream: `${upstream.url}/base/`,
      upstreamTimeout: 300,
      signal: stopping.signal,
      onEvent: (event) => events.push(event),
    });
    url = await listen(proxy);
  });

  after(async () => {
    await close(proxy);
    await close(upstream.server);
  });

  it('passes a GET through with its headers, minus hop-by-hop ones, and says who forwarded it', async () => {
    upstream.routes.set('/base/things', (request, response) => {
      response.writeHead(200, [
        'Content-Type',
        'text/plain',
        'Connection',
        'X-Upstream-Hop',
        'X-Upstream-Hop',
        'private',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Authenticate',
        'Basic',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'X-Echo-Host',
        String(request.headers.host),
      ]);
      response.end('hello');
    });
    const response = await sendOk(url, {
      method: 'GET',
      path: '/things?x=1',
      headers: [
        ['connection', 'x-client-hop'],
        ['x-client-hop', 'secret'],
        ['te', 'trailers'],
        ['proxy-authorization', 'Basic Zm9v'],
        ['x-forwarded-for', '203.0.113.9'],
        ['x-kept', 'yes'],
      ],
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'hello');
    assert.equal(response.header('x-upstream-hop'), undefined, 'a header named by Connection must go');
    assert.equal(response.header('proxy-authenticate'), undefined);
    assert.deepEqual(
      response.headers.filter(([name]) => name === 'set-cookie').map(([, value]) => value),
      ['a=1', 'b=2'],
      'repeated headers pass in order',
    );
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.url, '/base/things?x=1', 'the upstream base path prefixes the request path');
    assert.equal(seen.headers['x-client-hop'], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.equal(seen.headers['proxy-authorization'], undefined);
    assert.equal(seen.headers['x-kept'], 'yes');
    assert.equal(seen.headers.host, new URL(upstream.url).host);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen.headers['x-forwarded-host'], new URL(url).host);
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.ok(events.some((event) => event.type === 'passed' && event.status === 200));
  });

  it('streams a 5 MiB download without buffering it, byte for byte', { timeout: 10_000 }, async () => {
    const chunks = Array.from({ length: 80 }, () => randomBytes(64 * 1024));
    const expected = sha256(Buffer.concat(chunks));
    let clientHasFirstBytes!: () => void;
    const firstBytesArrived = new Promise<void>((resolve) => {
      clientHasFirstBytes = resolve;
    });
    upstream.routes.set('/base/download', async (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.write(chunks[0]);
      // A proxy that buffered the body would deadlock here: the client never sees a byte.
      await firstBytesArrived;
      for (const chunk of chunks.slice(1)) {
        if (!response.write(chunk)) await once(response, 'drain');
      }
      response.end();
    });
    const body = await new Promise<Buffer>((resolve, reject) => {
      httpRequest(`${url}/download`, (response) => {
        const received: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          received.push(chunk);
          clientHasFirstBytes();
        });
        response.on('end', () => resolve(Buffer.concat(received)));
        response.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(body.length, 80 * 64 * 1024);
    assert.equal(sha256(body), expected);
  });

  it('streams a 20 MiB upload without a key, unbuffered, byte for byte', { timeout: 10_000 }, async () => {
    const upload = randomBytes(20 * 1024 * 1024);
    let upstreamHasFirstBytes!: () => void;
    const firstBytesArrived = new Promise<void>((resolve) => {
      upstreamHasFirstBytes = resolve;
    });
    upstream.routes.set('/base/upload', async (request, response) => {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of request) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
        upstreamHasFirstBytes();
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ size, sha256: hash.digest('hex') }));
    });
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const request = httpRequest(
        `${url}/upload`,
        { method: 'POST', headers: { 'content-type': 'application/octet-stream' } },
        (response) => {
          readAll(response).then(resolve, reject);
        },
      );
      request.on('error', reject);
      request.write(upload.subarray(0, 1024 * 1024));
      // The rest goes only once the upstream saw the start: a buffering proxy would deadlock.
      firstBytesArrived.then(() => request.end(upload.subarray(1024 * 1024)));
    });
    assert.deepEqual(JSON.parse(answer.toString()), { size: upload.length, sha256: sha256(upload) });
  });

  it('runs a keyed POST once, keeps its Content-Length, and replays it', async () => {
    upstream.routes.set('/base/charges', async (request, response) => {
      const body = await readAll(request);
      response.writeHead(201, {
        'content-type': 'application/json',
        'content-length': String(body.length + 9),
      });
      response.write('{"echo":');
      response.end(`${body.toString()}}`);
    });
    const key = randomUUID();
    const post = () =>
      sendOk(url, {
        path: '/charges',
        headers: [
          ['content-type', 'application/json'],
          ['idempotency-key', key],
        ],
        body: '{"a":1}',
      });
    const first = await post();
    const retry = await post();
    assert.equal(first.status, 201);
    assert.equal(first.body.toString(), '{"echo":{"a":1}}');
    assert.equal(first.header('content-length'), '16');
    assert.equal(retry.header('idempotent-replayed'), 'true');
    assert.equal(Buffer.compare(retry.body, first.body), 0);
    assert.equal(upstream.runs.get('/base/charges'), 1);
    assert.equal(upstream.seen.at(-1)!.headers['content-length'], '7');
  });

  it('answers 504 problem+json when the upstream stays silent, and releases the key', async () => {
    let calls = 0;
    upstream.routes.set('/base/slow', (_request, response) => {
      calls++;
      if (calls === 1) return; // never answers
      response.writeHead(201, { 'content-type': 'text/plain' }).end('done');
    });
    const key = randomUUID();
    const post = () => sendOk(url, { path: '/slow', headers: [['idempotency-key', key]], body: 'x' });
    const timedOut = await post();
    assert.equal(timedOut.status, 504);
    assert.equal(timedOut.header('content-type'), 'application/problem+json');
    assert.equal(timedOut.json().type, 'https://idemkit.dev/problems/proxy-upstream-timeout');
    const retry = await post();
    assert.equal(retry.status, 201, 'a 504 must release the key so the retry runs');
    assert.equal(calls, 2);
    assert.ok(events.some((event) => event.type === 'upstream-error' && event.reason === 'timeout'));
  });

  it('refuses keyed bodies over maxRequestBytes with 413, declared or chunked, without running the upstream', async () => {
    const engine = createIdempotency({ store: memoryStore() });
    const small = createProxy({ engine, upstream: upstream.url, maxRequestBytes: 1024 });
    const smallUrl = await listen(small);
    upstream.routes.set('/big', async (request, response) => {
      await readAll(request);
      response.writeHead(201).end('ran');
    });
    try {
      const declared = await sendOk(smallUrl, {
        path: '/big',
        headers: [['idempotency-key', 'big']],
        body: 'x'.repeat(2048),
      });
      assert.equal(declared.status, 413);
      assert.equal(declared.json().type, 'https://idemkit.dev/problems/proxy-request-too-large');
      const chunked = await new Promise<number | 'cut'>((resolve) => {
        const request = httpRequest(
          `${smallUrl}/big`,
          { method: 'POST', headers: { 'idempotency-key': 'big2' } },
          (response) => resolve(response.statusCode ?? 0),
        );
        request.on('error', () => resolve('cut'));
        request.write('x'.repeat(1000));
        setTimeout(() => request.end('x'.repeat(1000)), 20);
      });
      assert.ok(chunked === 'cut' || chunked >= 400, `a chunked body over the limit got ${chunked}`);
      const fits = await sendOk(smallUrl, {
        path: '/big',
        headers: [['idempotency-key', 'small']],
        body: 'x'.repeat(1000),
      });
      assert.equal(fits.status, 201);
      assert.equal(upstream.runs.get('/big'), 1);
    } finally {
      await close(small);
    }
  });

  it('answers 502 problem+json when the upstream cannot be reached', async () => {
    const closed = createServer();
    await listen(closed);
    const port = (closed.address() as AddressInfo).port;
    await close(closed);
    const engine = createIdempotency({ store: memoryStore() });
    const orphan = createProxy({ engine, upstream: `http://127.0.0.1:${port}` });
    const orphanUrl = await listen(orphan);
    try {
      for (const headers of [[['idempotency-key', 'k']], []] as Array<Array<[string, string]>>) {
        const response = await sendOk(orphanUrl, { path: '/x', headers, body: 'x' });
        assert.equal(response.status, 502);
        assert.equal(response.json().type, 'https://idemkit.dev/problems/proxy-upstream-unavailable');
        assert.equal(response.header('idempotent-replayed'), undefined);
      }
    } finally {
      await close(orphan);
    }
  });

  it('on abort, answers 503 to what is in flight and releases its key', async () => {
    const engine = createIdempotency({ store: memoryStore() });
    const controller = new AbortController();
    const local = createProxy({ engine, upstream: upstream.url, signal: controller.signal });
    const localUrl = await listen(local);
    let calls = 0;
    upstream.routes.set('/stuck', (_request, response) => {
      calls++;
      if (calls > 1) response.writeHead(201).end('ok');
    });
    try {
      const key = randomUUID();
      const pending = sendOk(localUrl, { path: '/stuck', headers: [['idempotency-key', key]], body: 'x' });
      while (calls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(local.inFlight, 1);
      controller.abort();
      const aborted = await pending;
      assert.equal(aborted.status, 503);
      assert.equal(aborted.json().type, 'https://idemkit.dev/problems/proxy-shutting-down');
      assert.equal(await local.whenIdle(1000), true);
      // The key was released: the same engine, behind a live proxy, runs it again.
      const again = createProxy({ engine, upstream: upstream.url });
      const againUrl = await listen(again);
      const retry = await sendOk(againUrl, {
        path: '/stuck',
        headers: [['idempotency-key', key]],
        body: 'x',
      });
      await close(again);
      assert.equal(retry.status, 201);
      assert.equal(calls, 2);
    } finally {
      await close(local);
    }
  });

  it('ends the upstream exchange when a streaming client goes away', async () => {
    let upstreamSawClose!: () => void;
    const closed = new Promise<void>((resolve) => {
      upstreamSawClose = resolve;
    });
    upstream.routes.set('/base/forever', (request, response) => {
      response.writeHead(200);
      response.write('tick');
      request.socket.on('close', upstreamSawClose);
    });
    const request = httpRequest(`${url}/forever`);
    request.on('error', () => undefined);
    request.on('response', (response) => response.once('data', () => request.destroy()));
    request.end();
    await closed;
  });
});
