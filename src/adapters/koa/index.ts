import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { asBuffer } from '../../core/bytes.js';
import type { Idempotency } from '../../core/engine.js';
import type { Execution } from '../../core/execution.js';
import { needsBody } from '../../core/needs-body.js';
import { groupHeaders, headerPairs, nodeRequest, requestBody } from '../../core/node-http.js';
import type { RouteOptions } from '../../core/options.js';
import type { CapturedResponse } from '../../core/request.js';
import { asReadable, captureStream } from '../../core/stream-capture.js';

/** The parts of Koa's context that idemkit uses (Koa 2 and 3). */
export interface KoaContextLike {
  req: IncomingMessage;
  res: ServerResponse;
  /** The URL before routers mounted on a path rewrote it. */
  originalUrl: string;
  request: {
    /** What a body parser made of the body, if one ran before idemkit. */
    body?: unknown;
    /**
     * The body's bytes: a Buffer left by idemkit when it had to read them itself (a keyed request
     * that no body parser had read), or the string a body parser keeps here.
     */
    rawBody?: unknown;
  };
  response: { headers: OutgoingHttpHeaders; _explicitNullBody?: boolean };
  status: number;
  message: string;
  body: unknown;
  /** `false` when the app writes to `ctx.res` itself, bypassing Koa. */
  respond?: boolean;
  set(name: string, value: string | string[]): void;
  remove(name: string): void;
}

export type KoaMiddleware = (context: KoaContextLike, next: () => Promise<unknown>) => Promise<void>;

/** Statuses Koa answers without a body, whatever `ctx.body` holds. */
const emptyStatuses = new Set([204, 205, 304]);

/**
 * Idempotency for Koa 2 and 3, as middleware: `app.use(idempotency(engine))`, or on one route of
 * a router. Mount it after your body parser: the fingerprint then uses `ctx.request.body` (or the
 * parser's `ctx.request.rawBody`). Without one, idemkit reads the raw bytes of keyed requests
 * itself and leaves them, as a Buffer, on `ctx.request.rawBody`.
 *
 * After `await next()`, what the handler left in `ctx.status`, the headers and `ctx.body` (string,
 * Buffer, JSON value, stream, Blob, Response) is turned into the bytes Koa will send and stored
 * before the middleware returns, so before Koa responds. A stream flows to the client as it
 * comes, its end held back until it is stored. A thrown error releases the key and is rethrown
 * for Koa's error handling to answer.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import bodyParser from 'koa-bodyparser';
 * import { createIdempotency } from 'idemkit';
 * import { idempotency } from 'idemkit/koa';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const app = new Koa();
 * app.use(bodyParser());
 * app.use(idempotency(createIdempotency({ store: memoryStore() })));
 * app.use(async (ctx) => {
 *   ctx.status = 201;
 *   ctx.body = await createCharge(ctx.request.body);
 * });
 * ```
 */
export function idempotency<Context = KoaContextLike>(
  engine: Idempotency,
  routeOptions?: RouteOptions<Context>,
): KoaMiddleware {
  const route = engine.route(routeOptions);

  return async function idempotencyMiddleware(ctx, next) {
    const { req } = ctx;
    const body = needsBody(route, req.method, req.headers['idempotency-key'] !== undefined)
      ? await requestBody(req, ctx.request.body, ctx.request)
      : undefined;
    const decision = await route.begin(nodeRequest(req, body, ctx, ctx.originalUrl));
    if (decision.type === 'pass') return void (await next());
    if (decision.type === 'respond') return respondWith(ctx, decision.response);

    const { execution } = decision;
    for (const [name, value] of execution.echoHeaders) ctx.set(name, value);
    try {
      await next();
    } catch (error) {
      await execution.abandon('error', { error });
      throw error;
    }
    await capture(ctx, execution);
  };
}

/** Store what Koa is about to send, making `ctx.body` exactly those bytes (or a tee of its stream). */
async function capture(ctx: KoaContextLike, execution: Execution): Promise<void> {
  if (ctx.respond === false) {
    await execution.abandon('error', {
      error: new Error('idemkit: ctx.respond = false bypasses Koa; nothing to store'),
    });
    return;
  }
  const status = ctx.status;
  if (emptyStatuses.has(status)) return execution.finish({ ...head(ctx), body: Buffer.alloc(0) });
  let body = ctx.body;
  if (body instanceof Blob) body = Buffer.from(await body.arrayBuffer());
  // Koa 3 has already taken status and headers from a Response body; its body is a stream.
  if (body instanceof Response) body = body.body ?? Buffer.alloc(0);
  const stream = asReadable(body);
  if (stream) {
    replaceBody(ctx, captureStream(stream, execution, head(ctx)));
    return;
  }
  const bytes = bodyBytes(ctx, body);
  if (bytes !== ctx.body) replaceBody(ctx, bytes);
  await execution.finish({ ...head(ctx), body: bytes });
}

function replaceBody(ctx: KoaContextLike, body: unknown): void {
  const status = ctx.status;
  ctx.body = body;
  // Assigning a body makes Koa answer 200 unless a status was set explicitly (its default 404 was not).
  ctx.status = status;
}

/** The bytes Koa's respond() would send for this body. */
function bodyBytes(ctx: KoaContextLike, body: unknown): Buffer {
  if (body instanceof Uint8Array) return asBuffer(body);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === null || body === undefined) {
    if (ctx.response._explicitNullBody) return Buffer.alloc(0);
    // Koa answers a bodiless status with its message as text (`ctx.status = 202` sends "Accepted").
    const message = Buffer.from(ctx.message || String(ctx.status), 'utf8');
    ctx.set('content-type', 'text/plain; charset=utf-8');
    return message;
  }
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function head(ctx: KoaContextLike): Pick<CapturedResponse, 'status' | 'headers'> {
  return { status: ctx.status, headers: headerPairs(ctx.response.headers) };
}

/** A replay or a problem, answered the Koa way so outer middleware still sees it. */
function respondWith(ctx: KoaContextLike, response: CapturedResponse): void {
  ctx.status = response.status;
  for (const [name, value] of groupHeaders(response.headers)) ctx.set(name, value);
  ctx.body = asBuffer(response.body);
}
