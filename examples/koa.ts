import { createIdempotency } from 'idemkit';
import { idempotency } from 'idemkit/koa';
import { memoryStore } from 'idemkit/stores/memory';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const app = new Koa();
let charges = 0;
app.use(bodyParser()).use(idempotency(createIdempotency({ store: memoryStore() })));
app.use((ctx) => {
  ctx.status = 201;
  ctx.body = { id: `ch_${++charges}`, ...(ctx.request.body as object) };
});
const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => console.log(`charges API on http://127.0.0.1:${port}`));
