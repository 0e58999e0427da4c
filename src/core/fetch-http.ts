import type { Execution } from './execution.js';
import type { CapturedResponse, IdempotencyRequest } from './request.js';

/**
 * Translation between fetch-standard Request/Response and the engine, shared by every adapter
 * whose framework speaks fetch (fetch, hono). Web APIs only: these run on any runtime.
 */

/** Statuses whose responses must not carry a body. */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

/** The engine's view of a fetch Request whose body was already read into `body`. */
export function fetchRequest<Native>(
  request: Request,
  body: Uint8Array | undefined,
  native: Native,
): IdempotencyRequest<Native> {
  const url = new URL(request.url);
  return {
    method: request.method.toUpperCase(),
    path: url.pathname,
    query: url.search.slice(1),
    header: (name) => {
      // fetch joins repeated header lines with ", "; the key parser rejects that as a list.
      const value = request.headers.get(name);
      return value === null ? [] : [value];
    },
    body,
    native,
  };
}

/** A complete response (a replay or a problem) as a fetch Response. */
export function toResponse(captured: CapturedResponse): Response {
  return withBody(captured.body, { status: captured.status, headers: new Headers(captured.headers) });
}

/**
 * Buffer the handler's response (up to `maxResponseBytes`), store it, and return an equivalent
 * Response carrying the echoed key. Past the limit, the key is released and the rest of the body
 * streams through untouched. A body that fails mid-read releases the key and rethrows.
 */
export async function captureFetchResponse(response: Response, execution: Execution): Promise<Response> {
  const headers = new Headers(response.headers);
  for (const [name, value] of execution.echoHeaders) headers.set(name, value);
  const init = { status: response.status, statusText: response.statusText, headers };
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  try {
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      chunks.push(value);
      if (size > execution.maxResponseBytes) {
        await execution.abandon('too-large', { status: response.status });
        return new Response(passThrough(chunks, reader), init);
      }
    }
  } catch (error) {
    await execution.abandon('error', { error, status: response.status });
    throw error;
  }
  const body = concat(chunks, size);
  await execution.finish({ status: response.status, headers: [...response.headers], body });
  return withBody(body, init);
}

/** A response with a buffered body, its length stated as any server would. */
function withBody(
  body: Uint8Array,
  init: { status: number; statusText?: string; headers: Headers },
): Response {
  if (nullBodyStatuses.has(init.status)) return new Response(null, init);
  init.headers.set('content-length', String(body.byteLength));
  return new Response(body, init);
}

/** The bytes already read, then the rest of the stream, untouched. */
function passThrough(
  head: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of head) controller.enqueue(chunk);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
