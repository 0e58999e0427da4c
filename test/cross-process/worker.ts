// One server process of the cross-process test: the node adapter on a shared store.
// Reports its port when listening and its execution count when asked, over the IPC channel.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { idempotency } from '../../src/adapters/node/index.js';
import { createIdempotency } from '../../src/index.js';
import { listen } from '../helpers/listen.js';
import { openStore, type StoreSpec } from '../helpers/store-spec.js';

const spec = JSON.parse(process.argv[2]!) as StoreSpec;
const { store, close } = await openStore(spec);
const engine = createIdempotency({ store, wait: 20_000, storeTimeout: 10_000 });
let executions = 0;

const server = createServer(
  idempotency(engine)(async (req, res) => {
    executions++;
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 10));
    const body = JSON.stringify({ id: randomUUID(), worker: process.pid, request: req.rawBody.toString() });
    res.writeHead(201, { 'content-type': 'application/json' }).end(body);
  }),
);
const url = await listen(server);
process.send!({ type: 'ready', url });

process.on('message', async (message: { type: string }) => {
  if (message.type === 'stats') process.send!({ type: 'stats', executions });
  if (message.type === 'stop') {
    server.closeAllConnections();
    server.close();
    await close();
    process.exit(0);
  }
});
