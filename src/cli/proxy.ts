import type { IncomingMessage } from 'node:http';
import { type RouteOptions, resolveRouteOptions } from '../core/options.js';
import { optionalString, requiredString, wholeNumberOption } from './args.js';
import { UsageError } from './cli-error.js';
import type { Command } from './command.js';
import { createProxy, type ProxyServer } from './create-proxy.js';
import { credentialScope } from './credential-scope.js';
import { listenOn } from './listen.js';
import { describeError } from './log.js';
import { serviceOptions, startService } from './service.js';
import { gracefulShutdown } from './shutdown.js';

export const proxy: Command = {
  spec: {
    name: 'proxy',
    summary: 'put idempotency keys in front of any HTTP API',
    usage: 'proxy --upstream URL [--port 8080] [--store URL] [--scope-header NAME] [options]',
    options: {
      upstream: {
        type: 'string',
        value: 'url',
        description: 'the API to protect, e.g. http://127.0.0.1:8000 (required)',
      },
      ...serviceOptions('memory:', '8080'),
      'upstream-timeout': {
        type: 'string',
        value: 'ms',
        default: '30000',
        description: 'how long the upstream may send nothing before the proxy answers 504',
      },
      'scope-header': {
        type: 'string',
        value: 'name',
        description:
          'scope keys by this request header (its SHA-256), e.g. authorization, for tenant isolation',
      },
      'max-request-bytes': {
        type: 'string',
        value: 'bytes',
        default: String(10 * 1024 * 1024),
        description:
          'largest body of a keyed request (it is read whole to fingerprint it); larger ones get 413',
      },
      'max-response-bytes': {
        type: 'string',
        value: 'bytes',
        description: 'larger responses are delivered but not stored, and the key is released (default 1 MiB)',
      },
      required: { type: 'boolean', description: 'answer 400 to POST/PATCH requests without Idempotency-Key' },
      ttl: {
        type: 'string',
        value: 'ms',
        description: 'how long a stored response is replayed (default 24 h)',
      },
      lease: {
        type: 'string',
        value: 'ms',
        description: 'how long an in-flight key is held without renewal (default 30 s)',
      },
      wait: {
        type: 'string',
        value: 'ms',
        description: 'how long a duplicate waits for the original (default 10 s; 0 answers 409)',
      },
    },
    details: [
      'POST and PATCH requests with an Idempotency-Key run once upstream; their responses are stored and',
      "replayed to retries (2xx-4xx; 5xx, including the proxy's own 502/504, release the key). Everything",
      'else streams through unbuffered. Hop-by-hop headers are dropped; X-Forwarded-For/-Host/-Proto are set.',
      'With a memory: store, records vanish when the proxy stops; use sqlite:, postgres:, redis: or mysql: to keep them.',
    ].join('\n'),
  },

  async run(args) {
    const upstream = requiredString(args, proxy.spec, 'upstream');
    let upstreamUrl: URL;
    try {
      upstreamUrl = new URL(upstream);
    } catch {
      throw new UsageError(`option --upstream "${upstream}" is not a URL (e.g. http://127.0.0.1:8000)`);
    }
    if (upstreamUrl.protocol !== 'http:' && upstreamUrl.protocol !== 'https:') {
      throw new UsageError(`option --upstream must be an http:// or https:// URL, got "${upstream}"`);
    }
    const shownUpstream = new URL(upstreamUrl);
    if (shownUpstream.password !== '') shownUpstream.password = '***';
    const upstreamTimeout = wholeNumberOption(args, 'upstream-timeout')!;
    const scopeHeader = optionalString(args, 'scope-header')?.toLowerCase();
    const routeOptions: RouteOptions<IncomingMessage> = {
      required: args.values.required === true,
      ...(scopeHeader === undefined
        ? {}
        : { scope: (request) => credentialScope(request.headers[scopeHeader]) }),
    };
    for (const name of ['ttl', 'lease', 'wait'] as const) {
      const value = wholeNumberOption(args, name, { allowZero: name === 'wait' });
      if (value !== undefined) routeOptions[name] = value;
    }
    const maxResponseBytes = wholeNumberOption(args, 'max-response-bytes', { allowZero: true });
    if (maxResponseBytes !== undefined) routeOptions.maxResponseBytes = maxResponseBytes;
    const maxRequestBytes = wholeNumberOption(args, 'max-request-bytes', { allowZero: true })!;

    try {
      resolveRouteOptions(routeOptions); // rejects nonsense such as a lease longer than the ttl
    } catch (error) {
      throw new UsageError(describeError(error).replace(/^idemkit: /, ''));
    }

    const service = await startService(args);
    const { logger, metrics } = service;
    const upstreamErrors = metrics.counter(
      'idemkit_proxy_upstream_errors_total',
      'Exchanges the upstream did not complete, by reason.',
      'reason',
      ['unreachable', 'timeout', 'aborted'],
    );
    const stopping = new AbortController();
    const server: ProxyServer = createProxy({
      engine: service.engine,
      routeOptions,
      upstream: upstreamUrl,
      upstreamTimeout,
      maxRequestBytes,
      signal: stopping.signal,
      onEvent(event) {
        if (event.type === 'passed') {
          metrics.outcomes.inc('passed');
          const { type: _, durationMs, ...fields } = event;
          logger.debug('passed through', {
            outcome: 'passed',
            ...fields,
            durationMs: Math.round(durationMs * 100) / 100,
          });
          return;
        }
        upstreamErrors.inc(event.reason);
        const { type: _, error, ...fields } = event;
        const log = event.reason === 'aborted' ? logger.warn : logger.error;
        log(`upstream ${event.reason}`, { ...fields, error: describeError(error) });
      },
    });
    gracefulShutdown({
      server,
      timeoutMs: service.shutdownTimeout,
      logger,
      store: service.store,
      whenIdle: (ms) => server.whenIdle(ms),
      abort: () => stopping.abort(),
      close: () => service.close(),
    });
    let url: string;
    let metricsUrl: string | undefined;
    try {
      url = await listenOn(server, service.port, service.host, 'proxy');
      metricsUrl = await service.startMetrics();
    } catch (error) {
      server.close();
      await service.close();
      throw error;
    }
    process.stderr.write(
      [
        `idemkit proxy: ${url} -> ${shownUpstream.href} (store: ${service.opened.location.display})`,
        ...(metricsUrl ? [`metrics on ${metricsUrl}`] : []),
        '',
      ].join('\n'),
    );
    // Last, so whoever waits for this line finds the banner already written.
    logger.info('listening', {
      url,
      upstream: shownUpstream.href,
      store: service.opened.location.display,
      metrics: metricsUrl,
    });
  },
};
