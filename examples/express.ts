import express from 'express';
import { createIdempotency } from 'idemkit';
import { idempotency } from 'idemkit/express';
import { memoryStore } from 'idemkit/stores/memory';

const engine = createIdempotency({ store: memoryStore() });
const app = express();
let charges = 0;
app.post('/v1/charges', express.json(), idempotency(engine), (req, res) => {
  res.status(201).json({ id: `ch_${++charges}`, ...req.body });
});
const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => console.log(`charges API on http://127.0.0.1:${port}`));
