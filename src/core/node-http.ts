import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Awaitable } from './awaitable.js';
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
 * or still unread on the stream, in which case they are read here (the only case that returns a
 * promise) and left on `holder.rawBody`. Otherwise a body parser consumed the stream, and its
 * result (`parsed`) stands in for the bytes.
 */
export function requestBody(
  request: IncomingMessage,
  parsed: unknown,
  holder: { rawBody?: unknown } = request as RawBodyCarrier,
): Awaitable<IdempotencyRequest['body']> {
  const kept = holder.rawBody;
  if (kept instanceof Uint8Array) return kept;
  if (typeof kept === 'string') return Buffer.from(kept, 'utf8');
  if (!request.readableDidRead && !request.readableEnded) {
    return readBody(request).then((bytes) => {
      holder.rawBody = bytes;
      return bytes;
    });
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
  // Read once: under Express every read from the request misses V8's caches (see reachesRoute
  // in response-capture.ts). Not headersDistinct: building it costs more than the rest of this
  // function. Node joins repeated lines of other headers with ", ", which the key parser
  // rejects as a list.
  const { headers } = request;
  return {
    method: (request.method ?? 'GET').toUpperCase(),
    path: queryAt === -1 ? url : url.slice(0, queryAt),
    query: queryAt === -1 ? '' : url.slice(queryAt + 1),
    header: (name) => {
      const value = headers[name];
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
  // Object.keys, not Object.entries: one array instead of one per header (same keys, same order).
  const names = Object.keys(headers);
  for (let i = 0; i < names.length; i++) addPairs(pairs, names[i]!, headers[names[i]!]);
  return pairs;
}

/**
 * Header pairs of a node response, from what was set on it: `headerPairs(response.getHeaders())`
 * without the copy. `getHeaders()` builds a null-prototype object (a dictionary): on a plain node
 * response that costs about twice as much as asking for each header by name (~1.3 against
 * ~0.5 µs). Under Express, where every read from a response misses V8's caches, the two cost
 * the same.
 */
export function responseHeaderPairs(response: ServerResponse): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const names = response.getHeaderNames();
  for (let i = 0; i < names.length; i++) addPairs(pairs, names[i]!, response.getHeader(names[i]!));
  return pairs;
}

function addPairs(pairs: Array<[string, string]>, name: string, value: OutgoingHttpHeader | undefined): void {
  if (value === undefined) return;
  if (Array.isArray(value)) for (const item of value) pairs.push([name, item]);
  else pairs.push([name, typeof value === 'string' ? value : String(value)]);
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
