import Fastify from 'fastify';
import { createIdempotency } from 'idemkit';
import { idempotency } from 'idemkit/fastify';
import { memoryStore } from 'idemkit/stores/memory';

const app = Fastify();
await app.register(idempotency(createIdempotency({ store: memoryStore() })));
let charges = 0;
app.post('/v1/charges', { config: { idempotency: { required: true } } }, async (request, reply) => {
  return reply.code(201).send({ id: `ch_${++charges}`, ...(request.body as object) });
});
const port = Number(process.env.PORT ?? 3000);
await app.listen({ port, host: '127.0.0.1' });
console.log(`charges API on http://127.0.0.1:${port}`);
