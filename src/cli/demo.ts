import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { idempotency } from '../adapters/node/index.js';
import { memoryCharges, sqliteCharges } from './charges.js';
import { chargesListener, chargesRouteOptions } from './charges-api.js';
import type { Command } from './command.js';
import { listenOn } from './listen.js';
import { serviceOptions, startService } from './service.js';
import { gracefulShutdown } from './shutdown.js';

export const demo: Command = {
  spec: {
    name: 'demo',
    summary: 'run a Stripe-like charges API guarded by idemkit',
    usage: 'demo [--port 3000] [--host 127.0.0.1] [--store sqlite:./idemkit-demo.db]',
    options: serviceOptions('sqlite:./idemkit-demo.db', '3000'),
    details: [
      'POST /v1/charges takes amount (a positive integer), currency (3 letters) and source, form-encoded',
      'or as JSON, and answers 201 with the charge. Send Idempotency-Key to make retries safe: keys are',
      'scoped by the Authorization header, and a 400 is not stored, so a corrected retry with the same',
      'key runs. GET /v1/charges lists charges (newest first), GET /v1/charges/:id shows one.',
      'With a sqlite: store the charges live in the same file and survive a restart.',
    ].join('\n'),
  },

  async run(args) {
    const service = await startService(args);
    const { logger, opened } = service;
    const book = opened.sqlite ? sqliteCharges(opened.sqlite) : memoryCharges();
    const server = createServer(idempotency(service.engine, chargesRouteOptions)(chargesListener(book)));
    gracefulShutdown({
      server,
      timeoutMs: service.shutdownTimeout,
      logger,
      store: service.store,
      // The demo's handler is synchronous: what is still open after the bound is a stalled client.
      abort: () => server.closeAllConnections(),
      close: () => service.close(),
    });
    let url: string;
    let metricsUrl: string | undefined;
    try {
      url = await listenOn(server, service.port, service.host, 'demo');
      metricsUrl = await service.startMetrics();
    } catch (error) {
      server.close();
      await service.close();
      throw error;
    }
    const key = randomUUID();
    process.stderr.write(
      [
        `idemkit demo: charges API on ${url} (store: ${opened.location.display}${opened.sqlite ? '' : '; charges are kept in memory'})`,
        ...(metricsUrl ? [`metrics on ${metricsUrl}`] : []),
        'create a charge (run it twice: one charge, and the second answer says Idempotent-Replayed: true):',
        `  curl -i ${url}/v1/charges -u sk_test_demo: -H 'Idempotency-Key: ${key}' -d amount=2000 -d currency=usd -d source=tok_visa`,
        'list charges:',
        `  curl ${url}/v1/charges -u sk_test_demo:`,
        '',
      ].join('\n'),
    );
    // Last, so whoever waits for this line finds the banner already written.
    logger.info('listening', { url, store: opened.location.display, metrics: metricsUrl });
  },
};
