/**
 * The server side of ab.ts: one process serving the same variant from two builds, each on its own
 * port, so that what differs between processes (memory layout, where the scheduler puts them)
 * cannot pass for a difference between the builds. Plain JavaScript, run with plain node: the
 * builds it loads are tsc output, and no loader may rewrite them.
 *
 *   node ab-server.mjs <variant> <base build dir> <work build dir>
 *
 * Both builds share one process, and so one `ServerResponse.prototype`: the first build to capture
 * a response installs the prototype route both use (see src/core/response-capture.ts). A change
 * to that route cannot be judged this way.
 *
 * IPC: says { type: 'ready', ports: { base, work } }; answers { type: 'requests', side } with the
 * requests that side has served since its last { type: 'reset', side }.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [variant, ...builds] = process.argv.slice(2);
const sides = ['base', 'work'];

async function serve(buildDir) {
  const load = (file) => import(pathToFileURL(join(buildDir, 'bench', 'server', file)).href);
  const { chargesApp } = await load('charges-app.js');
  const { ExecutionLedger } = await load('execution-ledger.js');
  const { idemkitVariant } = await load('idemkit-variant.js');
  const layer =
    variant === 'bare'
      ? { middleware: [], close: async () => undefined }
      : await idemkitVariant(variant.replace(/^idemkit-/, ''));
  const app = chargesApp({ middleware: layer.middleware, ledger: new ExecutionLedger(), responseBytes: 0 });
  const server = app.listen(0, '127.0.0.1');
  server.keepAliveTimeout = 60_000;
  const counter = { requests: 0 };
  server.on('request', () => {
    counter.requests++;
  });
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return { server, layer, counter, port: server.address().port };
}

const served = {};
for (const [i, side] of sides.entries()) served[side] = await serve(builds[i]);

process.on('message', (message) => {
  const side = served[message.side];
  if (message.type === 'reset') {
    side.counter.requests = 0;
    process.send({ type: 'reset-done' });
  } else if (message.type === 'requests') {
    process.send({ type: 'requests', requests: side.counter.requests });
  } else if (message.type === 'shutdown') {
    void stop();
  }
});
process.on('disconnect', () => void stop());

async function stop() {
  for (const { server, layer } of Object.values(served)) {
    server.closeAllConnections();
    server.close();
    await layer.close();
  }
  process.exit(0);
}

process.send({ type: 'ready', ports: { base: served.base.port, work: served.work.port } });
