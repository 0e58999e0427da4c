import type { Idempotency } from '../../core/engine.js';
import { captureFetchResponse, fetchRequest, toResponse } from '../../core/fetch-http.js';
import { needsBody } from '../../core/needs-body.js';
import type { RouteOptions } from '../../core/options.js';

/** The parts of Hono's context that idemkit uses (Hono 4). */
export interface HonoContextLike {
  req: {
    raw: Request;
    /** Hono caches what it reads, so the handler can still call `c.req.json()` and friends. */
    arrayBuffer(): Promise<ArrayBuffer>;
  };
  /** The response once `next()` returns; idemkit replaces it with the stored copy. */
  res: Response | undefined;
  /** Set by Hono when the handler threw and its error handler answered. */
  error?: Error | undefined;
}

export type HonoMiddleware = (
  context: HonoContextLike,
  next: () => Promise<void>,
) => Promise<Response | undefined>;

/**
 * Idempotency for Hono 4, as middleware: `app.use(idempotency(engine))`, or on one route
 * (`app.post('/v1/charges', idempotency(engine, { required: true }), handler)`). Web APIs only,
 * so it runs on every runtime Hono runs on (Node via `@hono/node-server`, Bun, Deno, Workers).
 *
 * For keyed requests idemkit reads the body through `c.req.arrayBuffer()`, which Hono caches: the
 * handler reads it as usual with `c.req.json()`, `c.req.text()` or a validator, but not from
 * `c.req.raw` (its stream is used up). The fingerprint uses the raw bytes. After `next()`, the
 * response in `c.res` is buffered (up to `maxResponseBytes`; beyond it streams through unstored),
 * stored, and replaced by an identical response. An error that Hono's error handler answered
 * releases the key.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { createIdempotency } from 'idemkit';
 * import { idempotency } from 'idemkit/hono';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const app = new Hono();
 * app.use('/v1/*', idempotency(createIdempotency({ store: memoryStore() })));
 * app.post('/v1/charges', async (c) => c.json(await createCharge(await c.req.json()), 201));
 * ```
 */
export function idempotency<Context = HonoContextLike>(
  engine: Idempotency,
  routeOptions?: RouteOptions<Context>,
): HonoMiddleware {
  const route = engine.route(routeOptions);

  return async function idempotencyMiddleware(c, next) {
    const request = c.req.raw;
    const body =
      request.body && needsBody(route, request.method, request.headers.has('idempotency-key'))
        ? new Uint8Array(await c.req.arrayBuffer())
        : undefined;
    const decision = await route.begin(fetchRequest(request, body, c));
    if (decision.type === 'respond') return toResponse(decision.response);
    if (decision.type === 'pass') {
      await next();
      return;
    }

    const { execution } = decision;
    try {
      await next();
    } catch (error) {
      await execution.abandon('error', { error });
      throw error;
    }
    if (c.error || !c.res) {
      await execution.abandon('error', { error: c.error, status: c.res?.status });
      return;
    }
    const stored = await captureFetchResponse(c.res, execution);
    // Clear first: Hono merges the old response's headers into a new one, and ours has them all.
    c.res = undefined;
    c.res = stored;
  };
}
