import type { RequestHandler } from 'express';
import { interceptJson } from './intercept-json.js';
import type { Variant } from './variant.js';

interface Kept {
  status: number;
  json: string;
}

/**
 * Not an idempotency layer: the least work any in-memory layer does per request, with none of
 * idemkit's code. The raw key is the Map key; a first execution marks the key taken (a `null`
 * entry) and keeps the handler's serialised JSON body when it answers; a completed key is
 * replayed from the Map, a taken one is answered 409. No fingerprint (so no 422), no hashing, no
 * expiry, no leases, no waiters, no header allow-list, no events. Its throughput against bare
 * bounds what an in-memory layer can reach on this machine.
 */
export async function floorMemoryVariant(): Promise<Variant> {
  const records = new Map<string, Kept | null>();

  const middleware: RequestHandler = (request, response, next) => {
    const key = request.get('idempotency-key');
    if (key === undefined) return next();
    const kept = records.get(key);
    if (kept !== undefined) {
      if (kept === null) response.status(409).json({ error: 'in flight (the floor variant never waits)' });
      else response.status(kept.status).type('json').send(kept.json);
      return;
    }
    records.set(key, null);
    interceptJson(response, (json, send) => {
      records.set(key, { status: response.statusCode, json });
      send();
    });
    next();
  };

  return {
    middleware: [middleware],
    close: async () => records.clear(),
  };
}
