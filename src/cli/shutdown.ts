import type { Server } from 'node:http';
import { Activity } from './activity.js';
import { describeError, type Logger } from './log.js';
import type { TimedStore } from './timed-store.js';

export interface GracefulShutdownOptions {
  /** The server to drain. Install this before it starts listening, so every request is counted. */
  server: Server;
  /** How long in-flight work may take to finish before it is aborted, ms. */
  timeoutMs: number;
  logger: Logger;
  /** Work that can outlive its request (the proxy's upstream exchanges); true once idle. */
  whenIdle?: (timeoutMs: number) => Promise<boolean>;
  /** Make what is still running end now, in a way that releases its keys. */
  abort(): void;
  /** Store calls in flight are allowed to land before the store is closed. */
  store: TimedStore;
  /** Close the store and anything else that was opened. */
  close(): Promise<void>;
  /** Default `process.exit`; tests replace it. */
  exit?: (code: number) => void;
}

/** After an abort, how long the aborted work and its releases get to reach the store. */
const abortGraceMs = 2_000;

/**
 * Shut down on SIGTERM or SIGINT without losing a key:
 * 1. stop accepting connections and close idle keep-alive ones;
 * 2. let in-flight requests finish (their responses are stored as usual), up to `timeoutMs`;
 * 3. abort whatever is left: aborted work answers 5xx or is cut, so its key is released and a
 *    retry runs it again (nothing is left holding a lease until it lapses);
 * 4. wait for store calls still running, close the store, exit 0.
 * A second signal exits at once (code 1).
 *
 * @example
 * ```ts
 * gracefulShutdown({ server, timeoutMs: 10_000, logger, store, abort: () => controller.abort(), close });
 * await listenOn(server, 3000, '127.0.0.1', 'demo');
 * ```
 */
export function gracefulShutdown(options: GracefulShutdownOptions): {
  shutdown(reason: string): Promise<void>;
} {
  const { server, logger, store } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const requests = new Activity();
  let stopping = false;

  server.on('request', (_request, response) => {
    const done = requests.start();
    response.once('close', () => {
      done();
      // While stopping, a connection whose response is done must not wait for another request.
      if (stopping) setImmediate(() => server.closeIdleConnections());
    });
  });

  async function shutdown(reason: string): Promise<void> {
    if (stopping) {
      logger.warn('second signal: exiting without waiting', { signal: reason });
      exit(1);
      return;
    }
    stopping = true;
    const deadline = performance.now() + options.timeoutMs;
    logger.info('shutting down', { signal: reason, inFlight: requests.count, timeoutMs: options.timeoutMs });
    server.close();
    server.closeIdleConnections();
    const remaining = () => Math.max(0, deadline - performance.now());
    let finished = (await requests.idle(remaining())) && (await idleWork(remaining()));
    if (!finished) {
      logger.warn('shutdown timeout reached: aborting in-flight requests; their keys are released', {
        inFlight: requests.count,
      });
      options.abort();
      finished = (await requests.idle(abortGraceMs)) && (await idleWork(abortGraceMs));
    }
    server.closeAllConnections();
    // An abandoned response releases its key a tick after its listener settles.
    await new Promise((resolve) => setImmediate(resolve));
    const drained = await store.drained(abortGraceMs);
    if (!finished || !drained)
      logger.warn('some work did not settle before the store closed', { pending: store.pending });
    // A store that stopped answering must not keep the process from exiting.
    const closing = options.close().then(
      () => true,
      (error: unknown) => {
        logger.error('closing the store failed', { error: describeError(error) });
        return true;
      },
    );
    const timeout = new Promise<false>((resolve) => setTimeout(resolve, abortGraceMs, false).unref());
    if (!(await Promise.race([closing, timeout]))) logger.warn('the store did not close in time');
    logger.info('stopped');
    exit(0);
  }

  async function idleWork(timeoutMs: number): Promise<boolean> {
    return options.whenIdle ? options.whenIdle(timeoutMs) : true;
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void shutdown(signal));
  }
  return { shutdown };
}
