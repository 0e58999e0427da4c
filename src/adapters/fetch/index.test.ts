import { describe, it } from 'node:test';
import { close, listen } from '../../../test/helpers/listen.js';
import { serveFetch } from '../../../test/helpers/serve-fetch.js';
import { runAdapterContract } from '../../testing/index.js';
import { idempotency } from './index.js';

runAdapterContract({
  name: 'fetch',
  describe,
  it,
  requestHeader: (request: Request, name) => request.headers.get(name) ?? undefined,
  async serve({ engine, routeOptions, handler }) {
    const app = idempotency(
      engine,
      routeOptions,
    )(async (request) => {
      const url = new URL(request.url);
      const out = await handler({
        method: request.method,
        url: url.pathname + url.search,
        body: await request.text(),
      });
      const body =
        typeof out.body === 'string' || out.body instanceof Uint8Array
          ? out.body
          : ReadableStream.from(out.body);
      return new Response(out.status === 204 ? null : body, { status: out.status, headers: out.headers });
    });
    const server = serveFetch(app);
    const url = await listen(server);
    return { url, close: () => close(server) };
  },
});
