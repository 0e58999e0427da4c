import type { Idempotency } from '../../core/engine.js';
import type { Execution } from '../../core/execution.js';
import type { RouteOptions } from '../../core/options.js';
import type { CapturedResponse } from '../../core/request.js';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Statuses whose responses must not carry a body. */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

/**
 * Idempotency for any fetch-standard handler (`(Request) => Response`): Deno, Bun, Cloudflare
 * Workers, Next.js route handlers, `@hono/node-server`, or Node via a small bridge.
 *
 * The handler gets a Request whose body it can read as usual. Its response body is buffered (up to
 * `maxResponseBytes`) and stored before the response is returned, so a client that disconnects
 * still finds it on retry. A handler that throws releases the key, and the error propagates.
 *
 * @example
 * ```ts
 * import { createIdempotency } from 'idemkit';
 * import { idempotency } from 'idemkit/fetch';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const withIdempotency = idempotency(createIdempotency({ store: memoryStore() }));
 * export default {
 *   fetch: withIdempotency(async (request) => Response.json(await createCharge(await request.json()), { status: 201 })),
 * };
 * ```
 */
export function idempotency(engine: Idempotency, routeOptions?: RouteOptions<Request>) {
  const route = engine.route(routeOptions);
  return (handler: FetchHandler) =>
    async (request: Request): Promise<Response> => {
      const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
      const url = new URL(request.url);
      const decision = await route.begin({
        method: request.method.toUpperCase(),
        path: url.pathname,
        query: url.search.slice(1),
        header: (name) => {
          const value = request.headers.get(name);
          return value === null ? [] : [value];
        },
        body,
        native: request,
      });
      if (decision.type === 'respond') return toResponse(decision.response);
      // The original body was consumed above: hand the handler a request that still has it.
      const forwarded = new Request(request, { body: body ?? null });
      if (decision.type === 'pass') return handler(forwarded);

      const { execution } = decision;
      let response: Response;
      try {
        response = await handler(forwarded);
      } catch (error) {
        await execution.abandon('error', { error });
        throw error;
      }
      return capture(response, execution);
    };
}

async function capture(response: Response, execution: Execution): Promise<Response> {
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
  const captured: CapturedResponse = { status: response.status, headers: [...response.headers], body };
  await execution.finish(captured);
  return withBody(body, init);
}

function toResponse(captured: CapturedResponse): Response {
  return withBody(captured.body, { status: captured.status, headers: new Headers(captured.headers) });
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
