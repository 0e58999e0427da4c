import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { deleteRedisPrefix, dropPostgresTables, uniqueName } from '../../test/cli/cleanup.js';
import { close, listen } from '../../test/helpers/listen.js';
import { postgresUrl } from '../../test/helpers/store-spec.js';
import type { IdempotencyStore } from '../core/store.js';
import { runAdapterContract, type ServeSetup } from '../testing/index.js';
import { createProxy } from './create-proxy.js';
import { type OpenedStore, openStore, parseStoreUrl } from './store-url.js';

/**
 * The whole adapter contract, passed through the proxy: the contract's handler runs in an upstream
 * server, the proxy sits in front of it with the contract's engine, and every promise must still
 * hold as seen by the client. Stores are opened from URLs, the way the CLI opens them.
 */
async function serveThroughProxy({ engine, routeOptions, handler }: ServeSetup) {
  const upstream = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    try {
      const out = await handler({
        method: request.method!,
        url: request.url!,
        body: Buffer.concat(chunks).toString(),
      });
      for (const [name, value] of out.headers) response.appendHeader(name, value);
      response.statusCode = out.status;
      if (typeof out.body === 'string' || out.body instanceof Uint8Array) response.end(out.body);
      else Readable.from(out.body).pipe(response);
    } catch {
      if (!response.headersSent)
        response.writeHead(500, { 'content-type': 'text/plain' }).end('upstream failed');
      else response.destroy();
    }
  });
  const upstreamUrl = await listen(upstream);
  const proxy = createProxy({ engine, routeOptions, upstream: upstreamUrl });
  const url = await listen(proxy);
  return {
    url,
    close: async () => {
      await close(proxy);
      await close(upstream);
    },
  };
}

const temp = mkdtempSync(join(tmpdir(), 'idemkit-proxy-contract-'));
const pgTable = uniqueName('proxy');
const redisPrefix = `${uniqueName('proxy')}:`;
const opened: OpenedStore[] = [];

after(
  async () => {
    for (const store of opened) await store.close();
    await dropPostgresTables([pgTable]);
    await deleteRedisPrefix(redisPrefix);
    rmSync(temp, { recursive: true, force: true });
  },
  { timeout: 20_000 },
);

const storeUrls: Record<string, string> = {
  memory: 'memory:',
  sqlite: `sqlite:${join(temp, 'records.db')}`,
  postgres: `${postgresUrl}?table=${pgTable}`,
  redis: `redis://127.0.0.1:6379?prefix=${encodeURIComponent(redisPrefix)}`,
};

for (const [name, url] of Object.entries(storeUrls)) {
  // Bounded, so a store that stops answering fails the run instead of hanging it.
  describe(`proxy with a ${name} store`, { timeout: 60_000 }, () => {
    let shared: IdempotencyStore | undefined;
    before(
      async () => {
        if (name === 'memory') return;
        // One connection for the suite: the contract asks for a store per case and never closes it.
        const store = await openStore(parseStoreUrl(url));
        await store.setup?.();
        opened.push(store);
        shared = store.store;
      },
      { timeout: 20_000 },
    );
    runAdapterContract({
      name: `through the proxy (${name})`,
      describe,
      it,
      requestHeader: (request: IncomingMessage, header) => request.headers[header] as string | undefined,
      createStore: async () => shared ?? (await openStore(parseStoreUrl(url))).store,
      serve: serveThroughProxy,
      concurrency: { keys: 30, duplicates: 10 },
    });
  });
}
