// A small charges API guarded by idemkit: `npm start`, then POST twice with one key.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createIdempotency } from 'idemkit';
import { idempotency } from 'idemkit/node';
import { memoryStore } from 'idemkit/stores/memory';

const engine = createIdempotency({
  store: memoryStore(),
  onEvent: (event) =>
    console.log(JSON.stringify({ outcome: event.type, key: event.key, status: event.status })),
});
const charges: unknown[] = [];

const server = createServer(
  idempotency(engine)(async (req, res) => {
    if (req.method === 'POST' && req.url === '/v1/charges') {
      const charge = { id: `ch_${randomUUID()}`, ...JSON.parse(req.rawBody.toString() || '{}') };
      charges.push(charge);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(charge));
    } else if (req.method === 'GET' && req.url === '/v1/charges') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(charges));
    } else {
      res.writeHead(404).end();
    }
  }),
);

const port = Number(process.env.PORT ?? 3000);
server.listen(port, '127.0.0.1', () => {
  console.log(`charges API on http://127.0.0.1:${port}`);
  console.log(
    `try: curl -i -X POST http://127.0.0.1:${port}/v1/charges -H 'Idempotency-Key: k1' -d '{"amount":100}'`,
  );
});
