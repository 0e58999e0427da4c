import type { Server } from 'node:http';
import { createIdempotency, type Idempotency } from '../core/engine.js';
import type { OptionSpec, ParsedArgs } from './args.js';
import { optionalString, portOption, wholeNumberOption } from './args.js';
import { CliError, UsageError } from './cli-error.js';
import { listenOn } from './listen.js';
import { createLogger, describeError, type Logger, logLevels, parseLogLevel } from './log.js';
import { createMetrics, type Metrics, metricsServer } from './metrics.js';
import { type OpenedStore, openStore, parseStoreUrl } from './store-url.js';
import { type TimedStore, timedStore } from './timed-store.js';

/** The options `demo` and `proxy` share. */
export function serviceOptions(defaultStore: string, defaultPort: string): Record<string, OptionSpec> {
  return {
    port: { type: 'string', value: 'port', default: defaultPort, description: 'port to listen on' },
    host: { type: 'string', value: 'host', default: '127.0.0.1', description: 'address to listen on' },
    store: {
      type: 'string',
      value: 'url',
      default: defaultStore,
      description: 'where idempotency records live: memory:, sqlite:PATH, postgres://, redis://, mysql://',
    },
    'log-level': {
      type: 'string',
      value: 'level',
      default: 'info',
      description: `one JSON line per outcome on stdout at or above: ${logLevels.join(', ')}`,
    },
    'metrics-port': {
      type: 'string',
      value: 'port',
      description: 'serve Prometheus metrics at /metrics on this port (same host; off by default)',
    },
    'shutdown-timeout': {
      type: 'string',
      value: 'ms',
      default: '10000',
      description: 'on SIGTERM/SIGINT, how long in-flight requests may finish before they are aborted',
    },
    'skip-setup': {
      type: 'boolean',
      description: "do not create the store's table at start (run idemkit setup once instead)",
    },
  };
}

/** What `demo` and `proxy` run on: an engine over a timed store, a logger and metrics. */
export interface Service {
  engine: Idempotency;
  opened: OpenedStore;
  store: TimedStore;
  logger: Logger;
  metrics: Metrics;
  port: number;
  host: string;
  shutdownTimeout: number;
  /** Start the metrics endpoint if `--metrics-port` was given; resolves with its URL. */
  startMetrics(): Promise<string | undefined>;
  /** Close the metrics endpoint and the store. */
  close(): Promise<void>;
}

/**
 * Read the shared options, open and check the store (creating its table unless `--skip-setup`),
 * and build the engine whose every outcome is logged and counted.
 *
 * @example
 * ```ts
 * const service = await startService(parseCommandArgs(demo.spec, ['--store', 'memory:']));
 * const server = createServer(idempotency(service.engine)(listener));
 * ```
 */
export async function startService(args: ParsedArgs): Promise<Service> {
  const logLevel = parseLogLevel(optionalString(args, 'log-level') ?? 'info');
  if (!logLevel) {
    throw new UsageError(
      `option --log-level must be one of ${logLevels.join(', ')}, got "${optionalString(args, 'log-level')}"`,
    );
  }
  const port = portOption(args, 'port')!;
  const host = optionalString(args, 'host')!;
  const metricsPort = portOption(args, 'metrics-port');
  const shutdownTimeout = wholeNumberOption(args, 'shutdown-timeout', { allowZero: true })!;
  const location = parseStoreUrl(optionalString(args, 'store')!);
  const logger = createLogger(logLevel);
  const metrics = createMetrics();
  const opened = await openStore(location, {
    onConnectionError: (error) => logger.warn('store connection error', { error: describeError(error) }),
  });
  try {
    if (args.values['skip-setup'] !== true) await opened.setup?.();
  } catch (error) {
    await opened.close().catch(() => undefined);
    throw new CliError(`cannot create the store's table at ${location.display}: ${describeError(error)}`);
  }
  const store = timedStore(opened.store, metrics);
  const engine = createIdempotency({
    store,
    onEvent: (event) => {
      logger.outcome(event);
      metrics.outcomes.inc(event.type);
    },
  });
  let metricsHttp: Server | undefined;
  return {
    engine,
    opened,
    store,
    logger,
    metrics,
    port,
    host,
    shutdownTimeout,
    async startMetrics() {
      if (metricsPort === undefined) return undefined;
      metricsHttp = metricsServer(metrics);
      return `${await listenOn(metricsHttp, metricsPort, host, 'metrics')}/metrics`;
    },
    async close() {
      if (metricsHttp) {
        metricsHttp.close();
        metricsHttp.closeAllConnections();
      }
      await opened.close();
    },
  };
}
