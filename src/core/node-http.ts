import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Execution } from './execution.js';
import type { CapturedResponse, IdempotencyRequest } from './request.js';

/**
 * Translation between node:http and the engine, shared by every adapter whose framework sits on
 * node's `IncomingMessage`/`ServerResponse` (node, express, koa, fastify's raw objects).
 */

/** Read the whole request body. */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** A request that may carry its body's bytes, kept by idemkit or by a body parser before it. */
export type RawBodyCarrier = IncomingMessage & { rawBody?: unknown };

/**
 * The body for the fingerprint. Raw bytes when they can be had: kept on `holder.rawBody` (by
 * idemkit, a body parser or the framework; `holder` is the request unless the framework wraps it),
 * or still unread on the stream, in which case they are read here and left on `holder.rawBody`.
 * Otherwise a body parser consumed the stream, and its result (`parsed`) stands in for the bytes.
 */
export async function requestBody(
  request: IncomingMessage,
  parsed: unknown,
  holder: { rawBody?: unknown } = request as RawBodyCarrier,
): Promise<IdempotencyRequest['body']> {
  const kept = holder.rawBody;
  if (kept instanceof Uint8Array) return kept;
  if (typeof kept === 'string') return Buffer.from(kept, 'utf8');
  if (!request.readableDidRead && !request.readableEnded) {
    const bytes = await readBody(request);
    holder.rawBody = bytes;
    return bytes;
  }
  // A Buffer "parsed" body is the bytes themselves (a raw-body parser); anything else is a value.
  if (parsed instanceof Uint8Array) return parsed;
  return parsed === undefined ? undefined : { parsed };
}

/**
 * The engine's view of a node request. `url` defaults to `request.url`; pass the original URL
 * where a framework rewrites `request.url` for mounted routers (`req.originalUrl`).
 */
export function nodeRequest<Native>(
  request: IncomingMessage,
  body: IdempotencyRequest['body'],
  native: Native,
  url: string = request.url ?? '/',
): IdempotencyRequest<Native> {
  const queryAt = url.indexOf('?');
  return {
    method: (request.method ?? 'GET').toUpperCase(),
    path: queryAt === -1 ? url : url.slice(0, queryAt),
    query: queryAt === -1 ? '' : url.slice(queryAt + 1),
    // Not headersDistinct: building it costs more than the rest of this function. Node joins
    // repeated lines of other headers with ", ", which the key parser rejects as a list.
    header: (name) => {
      const value = request.headers[name];
      return value === undefined ? [] : Array.isArray(value) ? value : [value];
    },
    body,
    native,
  };
}

/** Send a complete response (a replay or a problem) with a correct Content-Length. */
export function sendResponse(response: ServerResponse, captured: CapturedResponse): void {
  const flat: string[] = [];
  for (const [name, value] of captured.headers) flat.push(name, value);
  flat.push('content-length', String(captured.body.length));
  response.writeHead(captured.status, flat);
  response.end(captured.body);
}

/** Header pairs of a response, from what was set on it. */
export function headerPairs(headers: OutgoingHttpHeaders): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) pairs.push([name, item]);
    else pairs.push([name, String(value)]);
  }
  return pairs;
}

/** Header pairs grouped by name, in first-seen order: for APIs that set a repeated header once, as a list. */
export function groupHeaders(
  pairs: ReadonlyArray<readonly [string, string]>,
): Array<[string, string | string[]]> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of pairs) {
    const values = grouped.get(name);
    if (values) values.push(value);
    else grouped.set(name, [value]);
  }
  return [...grouped].map(([name, values]) => [name, values.length === 1 ? values[0]! : values]);
}

type WriteArgs = [chunk?: unknown, encoding?: unknown, callback?: unknown];

export interface ResponseCapture {
  /** True once the handler called `end()`. */
  readonly ended: boolean;
  /**
   * The handler failed: release the key, then answer 500 if nothing was sent yet, or cut the
   * connection if a partial response already went out (a client must not mistake it for whole).
   */
  fail(error: unknown): void;
}

/**
 * Watch a response while the handler writes it: every byte passes through to the client as
 * usual, a copy is kept up to `maxResponseBytes`, and `end()` is held back until the engine has
 * stored the response, so a retry that arrives right after can only see the completed record.
 * The response is stored from the handler's `end()` call, not the socket's `'finish'` (which
 * never fires when the client has gone), so a disconnected client's retry still gets a replay.
 */
export function captureResponse(response: ServerResponse, execution: Execution): ResponseCapture {
  for (const [name, value] of execution.echoHeaders) response.setHeader(name, value);
  const originalWriteHead = response.writeHead as (
    this: ServerResponse,
    status: number,
    message?: string,
  ) => ServerResponse;
  const originalWrite = response.write as (this: ServerResponse, ...args: WriteArgs) => boolean;
  const originalEnd = response.end as (this: ServerResponse, ...args: WriteArgs) => ServerResponse;
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  let ended = false;
  let failed = false;
  let held: WriteArgs | undefined;

  const keep = (chunk: unknown, encoding: unknown): void => {
    if (tooLarge || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(
            (chunk as Uint8Array).buffer,
            (chunk as Uint8Array).byteOffset,
            (chunk as Uint8Array).byteLength,
          );
    size += bytes.length;
    if (size > execution.maxResponseBytes) {
      tooLarge = true;
      chunks.length = 0;
      void execution.abandon('too-large', { status: response.statusCode });
      return;
    }
    // Copy: callers may reuse their buffers once write() returns.
    chunks.push(Buffer.from(bytes));
  };

  // writeHead's own headers never show in getHeaders(); set them first so the capture sees them.
  response.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    const headers = rest.find((arg) => arg !== null && typeof arg === 'object');
    const message = typeof rest[0] === 'string' ? rest[0] : undefined;
    if (headers) setAll(this, headers as OutgoingHttpHeaders | readonly unknown[]);
    return originalWriteHead.call(this, status, message);
  } as ServerResponse['writeHead'];

  response.write = function write(this: ServerResponse, ...args: WriteArgs) {
    if (failed) return originalWrite.apply(this, args);
    keep(args[0], args[1]);
    // The write that completes a declared Content-Length would hand the client its whole answer
    // (and a reason to retry) before the record is completed: send it with end(), after storing.
    if (!tooLarge && held === undefined && size >= Number(this.getHeader('content-length') ?? Number.NaN)) {
      held = args;
      return true;
    }
    return originalWrite.apply(this, args);
  } as ServerResponse['write'];

  const finishWith = (args: WriteArgs): ServerResponse => {
    if (held) originalWrite.apply(response, held);
    held = undefined;
    return originalEnd.apply(response, args);
  };

  response.end = function end(this: ServerResponse, ...args: WriteArgs) {
    if (ended || failed) return finishWith(args);
    ended = true;
    keep(args[0], args[1]);
    if (tooLarge) return finishWith(args);
    const captured: CapturedResponse = {
      status: this.statusCode,
      headers: headerPairs(this.getHeaders()),
      body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
    };
    execution.finish(captured).then(() => finishWith(args));
    return this;
  } as ServerResponse['end'];

  return {
    get ended() {
      return ended;
    },
    fail(error: unknown) {
      if (ended || failed) return;
      failed = true;
      void execution.abandon('error', { error, status: 500 });
      if (response.headersSent) {
        response.destroy();
        return;
      }
      for (const name of response.getHeaderNames()) response.removeHeader(name);
      response.setHeader('content-type', 'text/plain; charset=utf-8');
      originalWriteHead.call(response, 500);
      originalEnd.call(response, 'Internal Server Error');
    },
  };
}

function setAll(response: ServerResponse, headers: OutgoingHttpHeaders | readonly unknown[]): void {
  if (!Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
      if (value !== undefined) response.setHeader(name, value);
    }
    return;
  }
  // Either [[name, value], …] or the flat [name, value, name, value, …] form.
  const pairs: Array<[string, string]> = Array.isArray(headers[0])
    ? (headers as Array<[string, string]>)
    : Array.from({ length: headers.length / 2 }, (_, i) => [
        String(headers[2 * i]),
        String(headers[2 * i + 1]),
      ]);
  for (const [name, value] of groupHeaders(pairs)) response.setHeader(name, value);
}
