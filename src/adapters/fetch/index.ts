import type { Idempotency } from '../../core/engine.js';
import { captureFetchResponse, fetchRequest, toResponse } from '../../core/fetch-http.js';
import type { RouteOptions } from '../../core/options.js';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

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
      const decision = await route.begin(fetchRequest(request, body, request));
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
      return captureFetchResponse(response, execution);
    };
}
