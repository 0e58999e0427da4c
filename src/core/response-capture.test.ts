import assert from 'node:assert/strict';
import { createServer, IncomingMessage, request, type Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { close, listen } from '../../test/helpers/listen.js';
import { deferred } from '../testing/deferred.js';
import type { Awaitable } from './awaitable.js';
import type { Execution } from './execution.js';
import { headerPairs, responseHeaderPairs } from './node-http.js';
import type { CapturedResponse } from './request.js';
import { captureResponse } from './response-capture.js';

/**
 * The parts of an Execution that captureResponse uses, recording what it is told. `store` is how
 * finish() settles: by default a promise, as with a store that answers asynchronously.
 */
function fakeExecution(store: () => Awaitable<void> = async () => undefined) {
  const finished: CapturedResponse[] = [];
  const abandoned: string[] = [];
  const execution = {
    echoHeaders: [['idempotency-key', 'k1']],
    maxResponseBytes: 1024,
    finish: (response: CapturedResponse) => {
      finished.push(response);
      return store();
    },
    abandon: async (reason: string) => {
      abandoned.push(reason);
    },
  } as unknown as Execution;
  return { execution, finished, abandoned };
}

/** The raw response to one GET, resolved as soon as the client has the whole message. */
function get(url: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
      response.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

async function serve(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  url: string;
  server: Server;
}> {
  const server = createServer(listener);
  return { url: await listen(server), server };
}

/** Route the prototype by capturing a response that is never sent. */
function routeThePrototype(): void {
  captureResponse(new ServerResponse(new IncomingMessage(new Socket())), fakeExecution().execution);
}

describe('captureResponse through ServerResponse.prototype', () => {
  it('leaves responses without a capture to node: no header copying, no held-back write', async () => {
    routeThePrototype();
    assert.ok(Object.hasOwn(ServerResponse.prototype, 'end'), 'the prototype is routed');
    const seen: Record<string, unknown> = {};
    let clientHasBody: () => void = () => {};
    const bodyArrived = new Promise<void>((resolve) => {
      clientHasBody = resolve;
    });
    const { url, server } = await serve((_req, res) => {
      seen.chained = res.writeHead(200, ['content-length', '5', 'x-flat', 'a']) === res;
      // A capture sets writeHead's headers on the response; node itself never does.
      seen.flatHeader = res.getHeader('x-flat');
      seen.written = res.write('hello', () => {
        seen.writeCallback = true;
      });
      // Under capture this write (it completes Content-Length) would wait for end(): here the
      // client must get the whole body while end() has not been called.
      void bodyArrived.then(() =>
        res.end(() => {
          seen.endCallback = true;
        }),
      );
    });
    try {
      const response = await Promise.race([
        get(url),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('body held back')), 2000)),
      ]);
      clientHasBody();
      assert.equal(response.status, 200);
      assert.equal(response.body, 'hello');
      assert.equal(response.headers['x-flat'], 'a');
      assert.equal(response.headers['idempotency-key'], undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(seen, {
        chained: true,
        flatHeader: undefined,
        written: true,
        writeCallback: true,
        endCallback: true,
      });
    } finally {
      await close(server);
    }
  });

  it('captures through the prototype, holds end() until stored, and fails through the originals', async () => {
    const first = fakeExecution();
    const failing = fakeExecution();
    const { url, server } = await serve((req, res) => {
      if (req.url === '/fail') {
        const capture = captureResponse(res, failing.execution);
        res.setHeader('x-gone', 'yes');
        capture.fail(new Error('handler broke'));
        return;
      }
      const capture = captureResponse(res, first.execution);
      assert.ok(!Object.hasOwn(res, 'end'), 'a plain response gets no methods of its own');
      res.writeHead(201, { 'content-type': 'text/plain', 'content-length': '6' });
      res.write('abc');
      res.write('def');
      assert.equal(capture.ended, false);
      res.end();
      assert.equal(capture.ended, true);
    });
    try {
      const ok = await get(`${url}/ok`);
      assert.equal(ok.status, 201);
      assert.equal(ok.body, 'abcdef');
      assert.equal(ok.headers['idempotency-key'], 'k1');
      assert.equal(first.finished.length, 1);
      const stored = first.finished[0]!;
      assert.equal(stored.status, 201);
      assert.equal(Buffer.from(stored.body).toString(), 'abcdef');
      assert.deepEqual(stored.headers, [
        ['idempotency-key', 'k1'],
        ['content-type', 'text/plain'],
        ['content-length', '6'],
      ]);

      const failed = await get(`${url}/fail`);
      assert.equal(failed.status, 500);
      assert.equal(failed.body, 'Internal Server Error');
      assert.equal(failed.headers['x-gone'], undefined);
      assert.deepEqual(failing.abandoned, ['error']);
      assert.equal(failing.finished.length, 0);
    } finally {
      await close(server);
    }
  });

  it('lets go of a response once it is sent or failed, not before', async () => {
    // Scavenges keep a WeakMap's values alive: a capture left in the route after its response
    // is done would carry the request's objects into the old generation.
    const underCapture = (res: ServerResponse): boolean =>
      (ServerResponse.prototype as unknown as Record<symbol, { captures: WeakMap<object, unknown> }>)[
        Symbol.for('idemkit.capture-route.v1')
      ]!.captures.has(res);
    const stored = deferred();
    const slow = fakeExecution(() => stored.promise);
    const seen: Record<string, boolean> = {};
    const { url, server } = await serve((req, res) => {
      if (req.url === '/fail') {
        const capture = captureResponse(res, fakeExecution().execution);
        seen.failingBefore = underCapture(res);
        capture.fail(new Error('handler broke'));
        seen.failingAfter = underCapture(res);
        return;
      }
      captureResponse(res, slow.execution);
      res.end('done');
      // end() is held until the store answers: the capture must stay registered meanwhile.
      seen.whileStoring = underCapture(res);
      res.on('finish', () => {
        seen.afterSent = underCapture(res);
      });
      stored.resolve();
    });
    try {
      assert.equal((await get(`${url}/ok`)).body, 'done');
      assert.equal((await get(`${url}/fail`)).status, 500);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(seen, {
        whileStoring: true,
        afterSent: false,
        failingBefore: true,
        failingAfter: false,
      });
    } finally {
      await close(server);
    }
  });

  it('wraps a response in place when middleware already gave it its own methods', async () => {
    const { execution, finished } = fakeExecution();
    const { url, server } = await serve((_req, res) => {
      // Middleware ahead of idemkit that transforms the body on the instance and says so in a
      // header set as the head goes out, as compression does.
      const writeHead = res.writeHead;
      const write = res.write;
      const end = res.end;
      res.writeHead = function upperHead(this: ServerResponse, ...args: unknown[]) {
        this.setHeader('x-upper', 'yes');
        return (writeHead as (...args: unknown[]) => ServerResponse).apply(this, args);
      } as ServerResponse['writeHead'];
      res.write = function upper(this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
        return (write as (...args: unknown[]) => boolean).call(this, String(chunk).toUpperCase(), ...rest);
      } as ServerResponse['write'];
      res.end = function upperEnd(this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
        const args = chunk === undefined ? rest : [String(chunk).toUpperCase(), ...rest];
        return (end as (...args: unknown[]) => ServerResponse).apply(this, args);
      } as ServerResponse['end'];
      captureResponse(res, execution);
      res.setHeader('content-type', 'text/plain');
      res.write('abc');
      res.end('def');
    });
    try {
      const response = await get(url);
      assert.equal(response.body, 'ABCDEF', 'the middleware still transforms what the client gets');
      assert.equal(response.headers['x-upper'], 'yes');
      const stored = finished[0]!;
      assert.equal(Buffer.from(stored.body).toString(), 'abcdef', 'the handler’s bytes are kept');
      assert.deepEqual(stored.headers, [
        ['idempotency-key', 'k1'],
        ['content-type', 'text/plain'],
      ]);
    } finally {
      await close(server);
    }
  });

  it('wraps a response in place when a prototype before node’s overrides one of its methods', async () => {
    const { execution, finished } = fakeExecution();
    // As an app would by patching Express's `app.response`, which Express makes every response's prototype.
    const patched = Object.create(ServerResponse.prototype) as ServerResponse;
    patched.end = function upperEnd(this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      const args = chunk === undefined ? rest : [String(chunk).toUpperCase(), ...rest];
      return (ServerResponse.prototype.end as (...args: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['end'];
    const { url, server } = await serve((_req, res) => {
      Object.setPrototypeOf(res, patched);
      captureResponse(res, execution);
      res.end('def');
    });
    try {
      const response = await get(url);
      assert.equal(response.body, 'DEF', 'the override still transforms what the client gets');
      assert.equal(Buffer.from(finished[0]!.body).toString(), 'def', 'the handler’s bytes are kept');
    } finally {
      await close(server);
    }
  });

  it('is installed once when two copies of the module are loaded', async () => {
    routeThePrototype();
    const { end, write, writeHead } = ServerResponse.prototype;
    // A second module instance, as when the built package and its sources run in one process.
    const specifier = './response-capture.js?second-copy';
    const copy = (await import(specifier)) as typeof import('./response-capture.js');
    assert.notEqual(copy.captureResponse, captureResponse, 'a distinct module instance');
    const ours = fakeExecution();
    const theirs = fakeExecution();
    const { url, server } = await serve((req, res) => {
      const capture = req.url === '/ours' ? captureResponse : copy.captureResponse;
      capture(res, req.url === '/ours' ? ours.execution : theirs.execution);
      res.end(req.url);
    });
    try {
      assert.equal((await get(`${url}/ours`)).body, '/ours');
      assert.equal((await get(`${url}/theirs`)).body, '/theirs');
      assert.equal(ServerResponse.prototype.end, end);
      assert.equal(ServerResponse.prototype.write, write);
      assert.equal(ServerResponse.prototype.writeHead, writeHead);
      assert.equal(Buffer.from(ours.finished[0]!.body).toString(), '/ours');
      assert.equal(Buffer.from(theirs.finished[0]!.body).toString(), '/theirs');
    } finally {
      await close(server);
    }
  });
});

describe('captureResponse with an execution that settles at once', () => {
  it("ends the response inside the handler's own end() call", async () => {
    const { execution, finished } = fakeExecution(() => undefined);
    let endedInCall: boolean | undefined;
    const { url, server } = await serve((_req, res) => {
      captureResponse(res, execution);
      res.end('now');
      endedInCall = res.writableEnded;
    });
    try {
      const answer = await get(url);
      assert.equal(answer.body, 'now');
      assert.equal(finished.length, 1);
      assert.equal(endedInCall, true, 'a synchronous finish leaves nothing to wait for');
    } finally {
      await close(server);
    }
  });

  it('holds end() back while the execution stores asynchronously', async () => {
    let release!: () => void;
    const { execution } = fakeExecution(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    let endedInCall: boolean | undefined;
    const { url, server } = await serve((_req, res) => {
      captureResponse(res, execution);
      res.end('later');
      endedInCall = res.writableEnded;
      setTimeout(() => release(), 20);
    });
    try {
      const answer = await get(url);
      assert.equal(answer.body, 'later');
      assert.equal(endedInCall, false);
    } finally {
      await close(server);
    }
  });
});

describe('headerPairs and responseHeaderPairs', () => {
  it('flatten repeated values, stringify numbers and skip undefined, in insertion order', () => {
    const response = new ServerResponse(new IncomingMessage(new Socket()));
    response.setHeader('X-B', 'b');
    response.setHeader('set-cookie', ['a=1', 'b=2']);
    response.setHeader('content-length', 12);
    const expected = [
      ['x-b', 'b'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['content-length', '12'],
    ];
    assert.deepEqual(headerPairs(response.getHeaders()), expected);
    assert.deepEqual(responseHeaderPairs(response), expected);
    assert.deepEqual(headerPairs({ a: undefined, b: 'x' }), [['b', 'x']]);
  });
});
