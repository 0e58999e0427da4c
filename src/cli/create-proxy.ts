import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { idempotency } from '../adapters/node/index.js';
import type { Idempotency } from '../core/engine.js';
import type { RouteOptions } from '../core/options.js';
import { Activity } from './activity.js';
import { endToEndHeaders, upstreamRequestHeaders } from './forwarding.js';
import { type CliProblem, sendProblem } from './problem.js';

export interface ProxyOptions {
  /** The engine whose store and options guard keyed requests. */
  engine: Idempotency;
  /** Options for the guarded route (scope, methods, required, wait, …). */
  routeOptions?: RouteOptions<IncomingMessage>;
  /** Base URL of the API to protect (http or https); its path, if any, is put before every request path. */
  upstream: string | URL;
  /** How long the upstream may stay silent (no bytes either way) before the proxy answers 504, ms. Default 30 000. */
  upstreamTimeout?: number;
  /**
   * Largest body a keyed request may have, bytes (default 10 MiB). Keyed bodies are read whole to
   * fingerprint them, so this bounds the memory one request can take: larger ones get 413.
   */
  maxRequestBytes?: number;
  /** When aborted, everything in flight ends now: 503 if nothing was sent yet, else a cut connection. Keys are released. */
  signal?: AbortSignal;
  /** Told about requests that bypassed the engine, and about every upstream failure. */
  onEvent?: (event: ProxyEvent) => void;
}

export type UpstreamFailure = 'unreachable' | 'timeout' | 'aborted';

export type ProxyEvent =
  /** A request streamed straight through (no key, or a method that takes none). */
  | { type: 'passed'; method: string; path: string; status: number | undefined; durationMs: number }
  /** The upstream could not be reached, stayed silent too long, broke off mid-response, or the proxy is stopping. */
  | {
      type: 'upstream-error';
      method: string;
      path: string;
      reason: UpstreamFailure;
      headersSent: boolean;
      error: unknown;
    };

/** The proxy's server: a plain `http.Server`, plus a view of the upstream exchanges still running. */
export interface ProxyServer extends Server {
  /** Upstream exchanges running now, including keyed ones whose client has already gone. */
  readonly inFlight: number;
  /** Resolves true once no exchange is running, or false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean>;
}

class UpstreamTimeout extends Error {
  constructor(ms: number) {
    super(`the upstream sent nothing for ${ms} ms`);
  }
}

class ProxyStopping extends Error {
  constructor() {
    super('the proxy is shutting down');
  }
}

const problems: Record<UpstreamFailure, Omit<CliProblem, 'detail'>> = {
  unreachable: { status: 502, code: 'proxy-upstream-unavailable', title: 'Upstream unavailable' },
  timeout: { status: 504, code: 'proxy-upstream-timeout', title: 'Upstream timeout' },
  aborted: { status: 503, code: 'proxy-shutting-down', title: 'Proxy shutting down', retryAfter: 1 },
};

/**
 * A reverse proxy that adds idempotency keys to any HTTP API. POST and PATCH requests carrying an
 * `Idempotency-Key` (or every one of them, with `required`) go through the engine: the body is
 * read, the upstream runs once per key, and its response is stored and replayed. Everything else
 * streams straight through, unbuffered in both directions.
 *
 * A keyed exchange keeps going when its client disconnects, so the response is still stored for
 * the retry. Upstream failures answer 502 (unreachable) or 504 (silent too long) as problem+json;
 * like every 5xx, they are not stored, and the key is released.
 *
 * @example
 * ```ts
 * import { createIdempotency } from 'idemkit';
 * import { memoryStore } from 'idemkit/stores/memory';
 * import { createProxy } from 'idemkit/proxy';
 *
 * const engine = createIdempotency({ store: memoryStore() });
 * createProxy({ engine, upstream: 'http://127.0.0.1:8000' }).listen(8080);
 * ```
 */
export function createProxy(options: ProxyOptions): ProxyServer {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw new TypeError(`createProxy: upstream must be an http:// or https:// URL, got ${upstream.href}`);
  }
  const timeoutMs = options.upstreamTimeout ?? 30_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('createProxy: upstreamTimeout must be a positive number of ms');
  }
  const maxRequestBytes = options.maxRequestBytes ?? 10 * 1024 * 1024;
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < 0) {
    throw new TypeError('createProxy: maxRequestBytes must be a whole number of bytes');
  }
  const { signal, onEvent = () => undefined } = options;
  const secure = upstream.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const exchanges = new Activity();
  // One listener on the signal for all exchanges (one each would trip MaxListenersExceededWarning).
  const stoppers = new Set<() => void>();
  signal?.addEventListener(
    'abort',
    () => {
      for (const stop of stoppers) stop();
    },
    { once: true },
  );
  const route = options.engine.route(options.routeOptions);
  const guarded = idempotency(
    options.engine,
    options.routeOptions,
  )((request, response) => exchange(request, response, request.rawBody));

  const server = createServer((request, response) => {
    if (signal?.aborted) return answerFailure(response, 'aborted');
    if (!request.url?.startsWith('/')) {
      return sendProblem(response, {
        status: 400,
        code: 'proxy-bad-request-target',
        title: 'Bad request target',
        detail: 'This is a reverse proxy: request a path, not an absolute URL.',
      });
    }
    const method = (request.method ?? 'GET').toUpperCase();
    const keyed =
      route.options.methods.has(method) &&
      (route.options.required || request.headers['idempotency-key'] !== undefined);
    if (keyed) return guardedWithinLimit(request, response);
    const startedAt = performance.now();
    response.once('close', () =>
      onEvent({
        type: 'passed',
        method,
        path: request.url ?? '/',
        status: response.headersSent ? response.statusCode : undefined,
        durationMs: performance.now() - startedAt,
      }),
    );
    exchange(request, response, undefined).catch(() => response.destroy());
  }) as ProxyServer;

  function guardedWithinLimit(request: IncomingMessage, response: ServerResponse): void {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxRequestBytes) {
      response.setHeader('connection', 'close');
      sendProblem(response, {
        status: 413,
        code: 'proxy-request-too-large',
        title: 'Request too large',
        detail: `A request with an Idempotency-Key may carry at most ${maxRequestBytes} bytes.`,
      });
      return;
    }
    guarded(request, response);
    // A chunked body declares no length: count it as it arrives (the adapter is reading it too).
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxRequestBytes) request.destroy(new Error('request body over maxRequestBytes'));
    });
  }

  Object.defineProperty(server, 'inFlight', { get: () => exchanges.count });
  server.whenIdle = (ms) => exchanges.idle(ms);
  server.on('close', () => agent.destroy());

  /**
   * Send one request upstream and relay the answer. With `body` (a keyed request, read whole by
   * the adapter) the exchange outlives a departed client, so its response can still be stored;
   * without, the request streams through and a departed client ends the exchange.
   */
  function exchange(
    request: IncomingMessage,
    response: ServerResponse,
    body: Buffer | undefined,
  ): Promise<void> {
    const done = exchanges.start();
    const method = request.method ?? 'GET';
    const path = request.url ?? '/';
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        answerFailure(response, 'aborted');
        done();
        resolve();
        return;
      }
      let settled = false;
      // Why we destroyed the upstream request ourselves; its own error events say less.
      let cause: Error | undefined;
      const upstreamRequest = send({
        protocol: upstream.protocol,
        hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
        port: upstream.port,
        path: basePath + path,
        method,
        headers: upstreamRequestHeaders(request, upstream.host, body?.length),
        agent,
      });
      const abortWith = (error: Error): void => {
        cause ??= error;
        upstreamRequest.destroy(error);
      };
      const stop = (): void => abortWith(new ProxyStopping());
      stoppers.add(stop);
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        stoppers.delete(stop);
        done();
        if (error === undefined) resolve();
        else reject(error);
      };
      const fail = (reported: unknown): void => {
        if (settled) return;
        const error = cause ?? reported;
        const reason: UpstreamFailure =
          error instanceof UpstreamTimeout
            ? 'timeout'
            : error instanceof ProxyStopping
              ? 'aborted'
              : 'unreachable';
        onEvent({ type: 'upstream-error', method, path, reason, headersSent: response.headersSent, error });
        upstreamRequest.destroy();
        if (response.headersSent) {
          // Part of the answer went out: cutting the connection is the only honest end.
          finish(error);
          return;
        }
        answerFailure(response, reason, error);
        finish();
      };

      upstreamRequest.setTimeout(timeoutMs, () => abortWith(new UpstreamTimeout(timeoutMs)));
      upstreamRequest.on('error', fail);
      upstreamRequest.on('response', (upstreamResponse) => {
        upstreamResponse.on('error', fail);
        upstreamResponse.on('close', () => {
          if (!upstreamResponse.complete) fail(new Error('the upstream broke off its response'));
        });
        response.writeHead(upstreamResponse.statusCode ?? 502, endToEndHeaders(upstreamResponse.rawHeaders));
        relay(upstreamResponse, response);
        upstreamResponse.on('end', () => {
          if (settled) return;
          response.end();
          finish();
        });
      });

      if (body !== undefined) {
        upstreamRequest.end(body);
        return;
      }
      request.pipe(upstreamRequest);
      response.once('close', () => {
        // A streamed exchange has no one left to answer once its client is gone.
        if (!response.writableFinished) upstreamRequest.destroy();
        if (!response.writableFinished) finish();
      });
    });
  }

  return server;
}

/**
 * Copy the upstream's body to the client chunk by chunk, honouring back-pressure. Not `pipe()`:
 * a pipe stops when the client goes away, and a keyed response must still reach `end()` so the
 * adapter stores it for the retry.
 */
function relay(from: IncomingMessage, to: ServerResponse): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk) && !to.destroyed) from.pause();
  });
  to.on('drain', () => from.resume());
  to.once('close', () => from.resume());
}

const notStored = ' Nothing was stored: a retry with the same Idempotency-Key runs again.';

function answerFailure(response: ServerResponse, reason: UpstreamFailure, error?: unknown): void {
  const details: Record<UpstreamFailure, string> = {
    unreachable: `The upstream could not be reached${describeCode(error)}.${notStored}`,
    timeout: `The upstream did not answer in time${describeCode(error)}.${notStored}`,
    aborted: `The proxy is shutting down.${notStored}`,
  };
  sendProblem(response, { ...problems[reason], detail: details[reason] });
}

function describeCode(error: unknown): string {
  if (error instanceof UpstreamTimeout) return ` (${error.message})`;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}
