import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createIdempotency } from 'idemkit';
import { idempotency } from 'idemkit/hono';
import { memoryStore } from 'idemkit/stores/memory';

const app = new Hono();
let charges = 0;
app.use('/v1/*', idempotency(createIdempotency({ store: memoryStore() })));
app.post('/v1/charges', async (c) => c.json({ id: `ch_${++charges}`, ...(await c.req.json()) }, 201));
const port = Number(process.env.PORT ?? 3000);
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
console.log(`charges API on http://127.0.0.1:${port}`);
