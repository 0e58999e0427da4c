import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPromiseLike } from '../../core/awaitable.js';
import type { Idempotency } from '../../core/engine.js';
import { nodeRequest, readBody, sendResponse } from '../../core/node-http.js';
import type { RouteOptions } from '../../core/options.js';
import { captureResponse } from '../../core/response-capture.js';

/** The request a wrapped listener receives: the body has been read, and is here. */
export interface IdempotentIncomingMessage extends IncomingMessage {
  rawBody: Buffer;
}

export type NodeListener = (request: IdempotentIncomingMessage, response: ServerResponse) => unknown;

/**
 * Idempotency for a plain `node:http` listener. The adapter reads the request body once (find it
 * as `req.rawBody`), runs the listener at most once per key, and captures whatever the listener
 * sends through `writeHead`/`setHeader`/`write`/`end` or by piping into the response.
 *
 * A listener that throws or rejects releases the key and gets a 500 (or, if it already started
 * answering, a cut connection). Return a promise from the listener when its work is asynchronous:
 * the lease is then renewed until it settles even if the client disconnects; without one, the
 * lease stops being renewed when the client goes away.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createIdempotency } from 'idemkit';
 * import { idempotency } from 'idemkit/node';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const withIdempotency = idempotency(createIdempotency({ store: memoryStore() }));
 * createServer(withIdempotency(async (req, res) => {
 *   const charge = await createCharge(JSON.parse(req.rawBody.toString()));
 *   res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(charge));
 * })).listen(3000);
 * ```
 */
export function idempotency(engine: Idempotency, routeOptions?: RouteOptions<IncomingMessage>) {
  const route = engine.route(routeOptions);
  return (listener: NodeListener) =>
    (request: IncomingMessage, response: ServerResponse): void => {
      void handle(listener, request as IdempotentIncomingMessage, response);
    };

  async function handle(
    listener: NodeListener,
    request: IdempotentIncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    let decision: Awaited<ReturnType<typeof route.begin>>;
    try {
      request.rawBody = await readBody(request);
      decision = await route.begin(nodeRequest(request, request.rawBody, request));
    } catch {
      // The client went away while sending, or the user's scope() threw.
      if (!response.headersSent)
        response.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
      else response.destroy();
      return;
    }
    if (decision.type === 'respond') return sendResponse(response, decision.response);
    if (decision.type === 'pass') {
      try {
        await listener(request, response);
      } catch {
        if (!response.headersSent)
          response.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
      }
      return;
    }

    const { execution } = decision;
    const capture = captureResponse(response, execution);
    let running = true;
    // Once the client is gone and the listener has returned without answering (a callback-style
    // listener whose fate is unknowable), stop renewing so the lease lapses unless it answers in
    // time. Asked before each renewal rather than listened for on every response.
    execution.renewWhile(() => running || !response.destroyed);
    try {
      const result = listener(request, response);
      if (!isPromiseLike(result)) {
        running = false;
        return;
      }
      await result;
      running = false;
      if (!capture.ended && response.destroyed) await execution.abandon('aborted');
    } catch (error) {
      running = false;
      capture.fail(error);
    }
  }
}
