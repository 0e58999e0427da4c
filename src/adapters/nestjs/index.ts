import type { IncomingMessage, ServerResponse } from 'node:http';
import { catchError, defer, finalize, mergeMap, NEVER, type Observable, throwError } from 'rxjs';
import { asBuffer } from '../../core/bytes.js';
import type { Decision, Idempotency, IdempotencyRoute } from '../../core/engine.js';
import { needsBody } from '../../core/needs-body.js';
import { groupHeaders, nodeRequest, requestBody, sendResponse } from '../../core/node-http.js';
import type { RouteOptions } from '../../core/options.js';
import type { CapturedResponse } from '../../core/request.js';
import { captureResponse } from '../../core/response-capture.js';

/** `@Idempotent()` options for a controller or handler; `false` leaves it unguarded. */
export type IdempotentOptions = RouteOptions | false;

/** Nest's request on either platform: Express's request, or Fastify's (which wraps the node one in `raw`). */
export interface NestRequestLike {
  raw?: IncomingMessage;
  body?: unknown;
  rawBody?: unknown;
  originalUrl?: string;
}

/** Nest's response on either platform: Express's response, or Fastify's reply. */
export interface NestResponseLike {
  raw?: ServerResponse;
  code?(status: number): unknown;
  header?(name: string, value: string | string[]): unknown;
  send?(payload?: unknown): unknown;
}

/** The parts of Nest's `ExecutionContext` the interceptor uses. */
export interface ExecutionContextLike {
  getType(): string;
  // biome-ignore lint/complexity/noBannedTypes: Nest hands out the handler and class as plain functions.
  getHandler(): Function;
  // biome-ignore lint/complexity/noBannedTypes: as above.
  getClass(): Function;
  switchToHttp(): { getRequest(): unknown; getResponse(): unknown };
}

/** Nest's `CallHandler`: runs the route handler. */
export interface CallHandlerLike {
  handle(): Observable<unknown>;
}

/** Options set by `@Idempotent()`, by decorated class or method. */
const marks = new WeakMap<object, IdempotentOptions>();

/**
 * Route options for one controller (class decorator) or handler (method decorator), merged over
 * the interceptor's; the handler's win over its controller's. `@Idempotent(false)` leaves a route
 * unguarded even under a global interceptor.
 *
 * @example
 * ```ts
 * @Controller('v1/charges')
 * @Idempotent({ wait: 5_000 })
 * class ChargesController {
 *   @Post()
 *   @Idempotent({ required: true })
 *   create(@Body() body: ChargeInput) { return this.charges.create(body); }
 * }
 * ```
 */
export function Idempotent(options: IdempotentOptions = {}) {
  return (target: object, _property?: string | symbol, descriptor?: PropertyDescriptor): void => {
    marks.set((descriptor?.value as object | undefined) ?? target, options);
  };
}

/**
 * The interceptor: it guards every POST and PATCH (the `methods` option) of the routes it is
 * bound to, on the Express and the Fastify platform alike.
 *
 * The body for the fingerprint is the parsed `@Body()` (or `req.rawBody` with Nest's
 * `rawBody: true`). The response is captured from the platform's node response, whatever Nest
 * writes (a returned value, `@Res()` writes, a `StreamableFile`), and its end is held back until it
 * is stored. An exception thrown by the handler releases the key and goes on to Nest's exception
 * filters. Replays and problems are written straight to the platform's response.
 */
export class IdempotencyInterceptor {
  readonly #engine: Idempotency;
  readonly #options: RouteOptions | undefined;
  readonly #routes = new WeakMap<object, WeakMap<object, IdempotencyRoute | null>>();

  constructor(engine: Idempotency, routeOptions?: RouteOptions) {
    this.#engine = engine;
    this.#options = routeOptions;
  }

  intercept(context: ExecutionContextLike, next: CallHandlerLike): Observable<unknown> {
    const route = context.getType() === 'http' ? this.#routeOf(context) : null;
    if (!route) return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest() as NestRequestLike;
    const response = http.getResponse() as NestResponseLike;
    return defer(() => decide(route, request)).pipe(
      mergeMap((decision) => {
        if (decision.type === 'pass') return next.handle();
        if (decision.type === 'respond') {
          send(response, decision.response);
          // Never emit: whatever the observable gave back, Nest would send again with the route's status.
          return NEVER;
        }
        const { execution } = decision;
        const raw = (response.raw ?? response) as ServerResponse;
        captureResponse(raw, execution);
        let running = true;
        // A gone client does not stop the handler: its lease is renewed while it runs, and its
        // response is stored. Only a handler that is done without ever ending the response (an
        // @Res() route that never answers) stops renewing, so that its lease lapses. (An ended
        // response settles the execution, which stops renewing by itself.)
        execution.renewWhile(() => running || !raw.destroyed);
        return next.handle().pipe(
          catchError((error: unknown) =>
            defer(async () => execution.abandon('error', { error })).pipe(
              mergeMap(() => throwError(() => error)),
            ),
          ),
          finalize(() => {
            running = false;
          }),
        );
      }),
    );
  }

  #routeOf(context: ExecutionContextLike): IdempotencyRoute | null {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.#routes.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.#routes.set(controller, byHandler);
    }
    let route = byHandler.get(handler);
    if (route === undefined) {
      const own = marks.get(handler);
      const inherited = marks.get(controller);
      route =
        own === false || (own === undefined && inherited === false)
          ? null
          : this.#engine.route({ ...this.#options, ...(inherited || {}), ...(own || {}) });
      byHandler.set(handler, route);
    }
    return route;
  }
}

/**
 * Idempotency for NestJS (10+, Express or Fastify platform), as an interceptor: bind it globally,
 * to a controller or to a handler, and tune routes with `@Idempotent()`.
 *
 * @example
 * ```ts
 * import { NestFactory } from '@nestjs/core';
 * import { createIdempotency } from 'idemkit';
 * import { idempotency } from 'idemkit/nestjs';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const app = await NestFactory.create(AppModule);
 * app.useGlobalInterceptors(idempotency(createIdempotency({ store: memoryStore() })));
 * await app.listen(3000);
 * ```
 */
export function idempotency(engine: Idempotency, routeOptions?: RouteOptions): IdempotencyInterceptor {
  return new IdempotencyInterceptor(engine, routeOptions);
}

async function decide(route: IdempotencyRoute, request: NestRequestLike): Promise<Decision> {
  const raw = request.raw ?? (request as IncomingMessage);
  const body = needsBody(route, raw.method, raw.headers['idempotency-key'] !== undefined)
    ? await requestBody(raw, request.body, request)
    : undefined;
  return route.begin(nodeRequest(raw, body, request, request.originalUrl ?? raw.url));
}

/** A replay or a problem: through Fastify's reply (so its hooks see it), or straight to Express's response. */
function send(response: NestResponseLike, captured: CapturedResponse): void {
  if (!response.raw || !response.code || !response.header || !response.send) {
    sendResponse(response as ServerResponse, captured);
    return;
  }
  response.code(captured.status);
  for (const [name, value] of groupHeaders(captured.headers)) response.header(name, value);
  response.send(asBuffer(captured.body));
}
