import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { close, listen } from '../../../test/helpers/listen.js';
import { runAdapterContract } from '../../testing/index.js';
import { idempotency } from './index.js';

runAdapterContract({
  name: 'node',
  describe,
  it,
  requestHeader: (request, name) => request.headers[name],
  async serve({ engine, routeOptions, handler }) {
    const server = createServer(
      idempotency(
        engine,
        routeOptions,
      )(async (req, res) => {
        const out = await handler({ method: req.method!, url: req.url!, body: req.rawBody.toString() });
        for (const [name, value] of out.headers) res.appendHeader(name, value);
        res.statusCode = out.status;
        if (typeof out.body === 'string' || out.body instanceof Uint8Array) res.end(out.body);
        else Readable.from(out.body).pipe(res);
      }),
    );
    const url = await listen(server);
    return { url, close: () => close(server) };
  },
});
