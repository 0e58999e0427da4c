/**
 * The server side of ab.ts: one process serving two sides, each on its own port (the same variant
 * from two builds, or two variants from one), so that what differs between processes (memory
 * layout, where the scheduler puts them) cannot pass for a difference between the sides. Plain
 * JavaScript, run with plain node: the builds it loads are tsc output, and no loader may rewrite them.
 *
 *   node ab-server.mjs <base variant> <base build dir> <work variant> <work build dir>
 *
 * Both sides share one process, and so one `ServerResponse.prototype`: the first build to capture
 * a response installs the prototype route both use (see src/core/response-capture.ts). A change
 * to that route cannot be judged this way, and a peer's responses pass through its look-up too
 * (one WeakMap miss per call).
 *
 * IPC: says { type: 'ready', ports: { base, work } }; answers { type: 'requests', side } with the
 * requests that side has served since its last { type: 'reset', side }.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [baseVariant, baseBuild, workVariant, workBuild] = process.argv.slice(2);
const sides = { base: [baseVariant, baseBuild], work: [workVariant, workBuild] };

/**
 * The layer of `variant` from one build. idemkit's through idemkit-variant.js, which builds of
 * older commits have too; peers and floors through variants.js (only the working tree's).
 */
async function layerOf(variant, load) {
  if (variant === 'bare') return { middleware: [], close: async () => undefined };
  if (variant.startsWith('idemkit-')) {
    const { idemkitVariant } = await load('idemkit-variant.js');
    return idemkitVariant(variant.slice('idemkit-'.length));
  }
  const { createVariant } = await load('variants.js');
  return createVariant(variant);
}

async function serve(variant, buildDir) {
  const load = (file) => import(pathToFileURL(join(buildDir, 'bench', 'server', file)).href);
  const { chargesApp } = await load('charges-app.js');
  const { ExecutionLedger } = await load('execution-ledger.js');
  const layer = await layerOf(variant, load);
  const app = chargesApp({
    middleware: layer.middleware,
    alreadyAnswered: layer.alreadyAnswered,
    ledger: new ExecutionLedger(),
    responseBytes: 0,
  });
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
for (const [side, [variant, buildDir]] of Object.entries(sides))
  served[side] = await serve(variant, buildDir);

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
