/**
 * One server under test, forked by the harness with an IPC channel: compiled with tsc first
 * (bench/tsconfig.server.json, like the published package) and run as `node main.js <variant>`. Listens on a free loopback port, says `ready`, answers `stats` / `reset`,
 * and on `shutdown` cleans up what it created and exits (so `--cpu-prof` can write its profile).
 *
 * Environment: BENCH_RESPONSE_BYTES (size of the handler's JSON body; default a small charge).
 */
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  type HarnessMessage,
  probeNames,
  type ServerMessage,
  type VariantName,
  variantNames,
} from '../shared/protocol.js';
import { chargesApp } from './charges-app.js';
import { ExecutionLedger } from './execution-ledger.js';
import { createVariant } from './variants.js';

function send(message: ServerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const name = process.argv[2] as VariantName;
  if (!variantNames.includes(name as never) && !probeNames.includes(name as never))
    throw new Error(`unknown variant ${String(name)}`);
  const variant = await createVariant(name);
  const ledger = new ExecutionLedger();
  const app = chargesApp({
    middleware: variant.middleware,
    alreadyAnswered: variant.alreadyAnswered,
    ledger,
    responseBytes: Number(process.env.BENCH_RESPONSE_BYTES ?? 0),
  });
  let requests = 0;
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const server = app.listen(0, '127.0.0.1');
  server.keepAliveTimeout = 60_000;
  server.on('request', () => {
    requests++;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });

  process.on('message', (message: HarnessMessage) => {
    switch (message.type) {
      case 'stats':
        send({
          type: 'stats',
          stats: {
            requests,
            executions: ledger.executions,
            keysExecuted: ledger.keys,
            keysExecutedMoreThanOnce: ledger.repeatedKeys,
            storeCalls: variant.storeCalls?.() ?? null,
            driverRoundTrips: variant.driverRoundTrips?.() ?? null,
            eventLoopDelay: {
              p50: loopDelay.percentile(50) / 1e6,
              p99: loopDelay.percentile(99) / 1e6,
              max: loopDelay.max / 1e6,
            },
          },
        });
        return;
      case 'clock':
        send({ type: 'clock', now: performance.timeOrigin + performance.now() });
        return;
      case 'reset':
        requests = 0;
        loopDelay.reset();
        ledger.resetExecutions();
        variant.resetCounters?.();
        send({ type: 'reset-done' });
        return;
      case 'shutdown':
        server.closeAllConnections();
        server.close();
        void stop();
        return;
    }
  });
  // The harness went away without saying shutdown: do not linger.
  process.on('disconnect', () => void stop());

  let stopping = false;
  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    try {
      await variant.close();
    } finally {
      process.exit(0);
    }
  }
  send({ type: 'ready', port: (server.address() as AddressInfo).port });
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
