import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Awaitable, isPromiseLike } from '../../core/awaitable.js';
import type { Decision, Idempotency } from '../../core/engine.js';
import { needsBody } from '../../core/needs-body.js';
import { nodeRequest, requestBody, sendResponse } from '../../core/node-http.js';
import type { RouteOptions } from '../../core/options.js';
import { captureResponse } from '../../core/response-capture.js';

/**
 * The parts of Express's request that idemkit reads (any Express 4 or 5 request has them), and
 * `rawBody`, which it may add. It also reads `req.body`, left out here so that it does not narrow
 * the `req.body` type Express infers for the handlers after it.
 */
export interface ExpressRequest extends IncomingMessage {
  /** The URL before routers mounted on a path rewrote `url`. */
  originalUrl?: string;
  /**
   * The body's bytes, when idemkit had to read them itself: a keyed request that no body parser
   * had read. A body parser mounted after idemkit finds the stream already read.
   */
  rawBody?: Buffer;
}

export type ExpressNext = (error?: unknown) => void;

export type ExpressMiddleware = (
  request: ExpressRequest,
  response: ServerResponse,
  next: ExpressNext,
) => void;

/**
 * Idempotency for Express 4 and 5, as middleware: on one route
 * (`app.post(path, express.json(), idempotency(engine), handler)`) or for a whole app or router
 * (`app.use(idempotency(engine))`). Mount it after your body parser: the fingerprint then uses
 * the parsed `req.body`. Without one, idemkit reads the raw bytes of keyed requests itself and
 * leaves them on `req.rawBody`.
 *
 * Whatever the handler sends is captured at the socket level (`res.json`, `res.send`, `res.end`,
 * redirects, files and piped streams), buffered up to `maxResponseBytes` (beyond, it passes
 * through untouched and the key is released), and the end of the response is held back until it
 * is stored. Errors are left to Express: whatever its error handling answers is captured like any
 * response, so a 5xx (Express's default for an error) releases the key.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createIdempotency } from 'idemkit';
 * import { idempotency } from 'idemkit/express';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const engine = createIdempotency({ store: memoryStore() });
 * const app = express();
 * app.post('/v1/charges', express.json(), idempotency(engine), async (req, res) => {
 *   res.status(201).json(await createCharge(req.body));
 * });
 * ```
 */
export function idempotency<Request = ExpressRequest>(
  engine: Idempotency,
  routeOptions?: RouteOptions<Request>,
): ExpressMiddleware {
  const route = engine.route(routeOptions);

  return function idempotencyMiddleware(request, response, next) {
    let decision: Awaitable<Decision>;
    try {
      decision = decide(request);
    } catch (error) {
      return next(error);
    }
    if (isPromiseLike(decision)) {
      // The client went away while sending, or the user's scope() threw: Express's error handling answers.
      decision.then((settled) => act(settled, response, next), next);
    } else {
      act(decision, response, next);
    }
  };

  // Synchronous when the body is at hand and the store answers at once (memory, SQLite). One
  // view of the request, so each of its fields is read from it once: Express gives every request
  // a map of its own, and each read misses V8's caches.
  function decide(request: ExpressRequest): Awaitable<Decision> {
    const view = nodeRequest(request, undefined, request, request.originalUrl ?? request.url);
    if (!needsBody(route, view.method, view.header('idempotency-key').length > 0)) return route.begin(view);
    const body = requestBody(request, (request as { body?: unknown }).body);
    if (!isPromiseLike(body)) {
      view.body = body;
      return route.begin(view);
    }
    return body.then((bytes) => {
      view.body = bytes;
      return route.begin(view);
    });
  }
}

function act(decision: Decision, response: ServerResponse, next: ExpressNext): void {
  if (decision.type === 'pass') {
    next();
  } else if (decision.type === 'respond') {
    sendResponse(response, decision.response);
  } else {
    const { execution } = decision;
    captureResponse(response, execution);
    // Once the client is gone, Express cannot say whether the handler still works: stop
    // renewing, so the lease lapses unless it answers in time. (An answered response settles
    // the execution, which stops renewing by itself.)
    execution.renewWhile(() => !response.destroyed);
    next();
  }
}
