import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { asBuffer } from '../../core/bytes.js';
import type { Idempotency, IdempotencyRoute } from '../../core/engine.js';
import type { Execution } from '../../core/execution.js';
import { needsBody } from '../../core/needs-body.js';
import { groupHeaders, headerPairs, nodeRequest, requestBody } from '../../core/node-http.js';
import type { RouteOptions } from '../../core/options.js';
import type { CapturedResponse } from '../../core/request.js';
import { asReadable, captureStream } from '../../core/stream-capture.js';

/** The parts of Fastify's request that idemkit reads (Fastify 4 and 5). */
export interface FastifyRequestLike {
  raw: IncomingMessage;
  /** The parsed body: the fingerprint uses it (or `rawBody`, when a plugin keeps the bytes). */
  body?: unknown;
  rawBody?: unknown;
  routeOptions?: { config?: unknown };
}

/** The parts of Fastify's reply that idemkit uses. */
export interface FastifyReplyLike {
  raw: ServerResponse;
  statusCode: number;
  code(status: number): unknown;
  header(name: string, value: string | string[]): unknown;
  getHeaders(): OutgoingHttpHeaders;
  send(payload?: unknown): unknown;
}

/** The part of a Fastify instance the plugin registers itself with. */
export interface FastifyInstanceLike {
  // biome-ignore lint/suspicious/noExplicitAny: Fastify types each hook by name; the plugin passes the right ones.
  addHook(name: string, hook: (...args: any[]) => unknown): unknown;
}

/** A route's `config.idempotency`: options for that route, or `false` to leave it unguarded. */
export type FastifyRouteIdempotency = RouteOptions<FastifyRequestLike> | false;

export type FastifyIdempotencyPlugin = (
  instance: FastifyInstanceLike,
  options: unknown,
  done: (error?: Error) => void,
) => void;

/**
 * Idempotency for Fastify 4 and 5, as a plugin: `app.register(idempotency(engine))`. It guards
 * the routes of the context it is registered in (and that context's children), like a plugin
 * wrapped in `fastify-plugin`; it works under `app.inject()` too. A route takes its own options
 * from `config: { idempotency: { required: true } }`, or opts out with `config: { idempotency: false }`.
 *
 * The decision is made in `preHandler`, after Fastify parsed and validated the body: the
 * fingerprint uses the parsed `request.body` (or `request.rawBody`, if a plugin keeps the bytes),
 * so handlers read the body as usual. The response is captured in `onSend`, whatever the payload
 * (a `return` value, string, Buffer, stream) and stored before it goes out; a stream's end is held
 * back until it is stored. Errors release the key in `onError`, then Fastify's error handling
 * answers as usual.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createIdempotency } from 'idemkit';
 * import { idempotency } from 'idemkit/fastify';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const app = Fastify();
 * await app.register(idempotency(createIdempotency({ store: memoryStore() })));
 * app.post('/v1/charges', { config: { idempotency: { required: true } } }, async (request, reply) => {
 *   reply.code(201);
 *   return createCharge(request.body);
 * });
 * ```
 */
export function idempotency<Request = FastifyRequestLike>(
  engine: Idempotency,
  routeOptions?: RouteOptions<Request>,
): FastifyIdempotencyPlugin {
  const baseRoute = engine.route(routeOptions);
  const routesByConfig = new WeakMap<object, IdempotencyRoute>();
  const executions = new WeakMap<FastifyRequestLike, Execution>();

  function routeOf(request: FastifyRequestLike): IdempotencyRoute | undefined {
    const config = (request.routeOptions?.config as { idempotency?: FastifyRouteIdempotency } | undefined)
      ?.idempotency;
    if (config === false) return undefined;
    if (config === undefined || config === null || typeof config !== 'object') return baseRoute;
    let route = routesByConfig.get(config);
    if (!route) {
      route = engine.route({ ...routeOptions, ...config });
      routesByConfig.set(config, route);
    }
    return route;
  }

  async function preHandler(request: FastifyRequestLike, reply: FastifyReplyLike): Promise<unknown> {
    const route = routeOf(request);
    if (!route) return;
    const raw = request.raw;
    const body = needsBody(route, raw.method, raw.headers['idempotency-key'] !== undefined)
      ? await requestBody(raw, request.body, request)
      : undefined;
    const decision = await route.begin(nodeRequest(raw, body, request));
    if (decision.type === 'pass') return;
    if (decision.type === 'respond') {
      sendReply(reply, decision.response);
      return reply;
    }
    const { execution } = decision;
    executions.set(request, execution);
    for (const [name, value] of execution.echoHeaders) reply.header(name, value);
    reply.raw.once('close', () => {
      if (!executions.has(request)) return;
      // The response ended without passing onSend (a hijacked reply): it was never captured.
      if (reply.raw.writableFinished) {
        executions.delete(request);
        void execution.abandon('error', { error: new Error('idemkit: a hijacked reply cannot be stored') });
      } else {
        // The client is gone before the handler answered: stop renewing, so a handler that never
        // answers lets its lease lapse; one that does answers through onSend and is stored.
        execution.stopRenewing();
      }
    });
  }

  async function onSend(
    request: FastifyRequestLike,
    reply: FastifyReplyLike,
    payload: unknown,
  ): Promise<unknown> {
    const execution = executions.get(request);
    if (!execution) return payload;
    executions.delete(request);
    let body = payload;
    if (body instanceof Response) {
      // Fastify 5 unpacks a sent Response after onSend; unpack it here so its body can be captured.
      reply.code(body.status);
      for (const [name, value] of body.headers) reply.header(name, value);
      body = body.body;
    }
    const head = { status: reply.statusCode, headers: headerPairs(reply.getHeaders()) };
    const stream = asReadable(body);
    if (stream) return captureStream(stream, execution, head);
    if (body === undefined || body === null) {
      await execution.finish({ ...head, body: new Uint8Array(0) });
    } else if (typeof body === 'string' || body instanceof Uint8Array) {
      await execution.finish({ ...head, body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body });
    } else {
      // Fastify itself rejects such a payload; there is nothing to store.
      await execution.abandon('error', { status: head.status, error: new TypeError('unsupported payload') });
    }
    return body;
  }

  async function onError(
    request: FastifyRequestLike,
    reply: FastifyReplyLike,
    error: unknown,
  ): Promise<void> {
    const execution = executions.get(request);
    if (!execution) return;
    executions.delete(request);
    await execution.abandon('error', { error, status: reply.statusCode });
  }

  const plugin: FastifyIdempotencyPlugin = (instance, _options, done) => {
    instance.addHook('preHandler', preHandler);
    instance.addHook('onSend', onSend);
    instance.addHook('onError', onError);
    done();
  };
  // What fastify-plugin sets: the hooks apply to the context that registers the plugin, not
  // only to a child context of their own.
  return Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'idemkit',
    [Symbol.for('plugin-meta')]: { name: 'idemkit', fastify: '4.x || 5.x' },
  });
}

/** A replay or a problem, sent through Fastify so its own hooks and logging see it. */
function sendReply(reply: FastifyReplyLike, response: CapturedResponse): void {
  reply.code(response.status);
  for (const [name, value] of groupHeaders(response.headers)) reply.header(name, value);
  reply.send(asBuffer(response.body));
}
