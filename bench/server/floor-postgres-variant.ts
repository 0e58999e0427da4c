import { randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import pg from 'pg';
import { countCalls } from './counting-store.js';
import { interceptJson } from './intercept-json.js';
import type { Variant } from './variant.js';

/**
 * Not an idempotency layer: the least PostgreSQL work any layer needs for a first execution that
 * survives a crash (one committed claim before the handler runs, one committed completion
 * before the client hears back), with none of idemkit's code. Two prepared single-row statements
 * on a pg Pool of the same default size idemkit's variant uses; no hashing, no leases, no fencing.
 * Its throughput against bare bounds what a PostgreSQL-backed layer can reach on this machine.
 *
 * Only first executions are meaningful: a key seen before is answered 409, never replayed.
 */
export async function floorPostgresVariant(): Promise<Variant> {
  const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  const table = `idemkit_floor_${process.pid}_${randomBytes(4).toString('hex')}`;
  await pool.query(`CREATE TABLE "${table}" (key text PRIMARY KEY, body text)`);
  const claim = `INSERT INTO "${table}" (key) VALUES ($1) ON CONFLICT DO NOTHING`;
  const complete = `UPDATE "${table}" SET body = $2 WHERE key = $1`;
  const roundTrips = countCalls(pool, 'query');

  const middleware: RequestHandler = (request, response, next) => {
    const key = request.get('idempotency-key');
    if (key === undefined) return next();
    pool.query({ name: 'floor_claim', text: claim, values: [key] }).then((claimed) => {
      if (claimed.rowCount !== 1) {
        response.status(409).json({ error: 'key seen before (the floor variant never replays)' });
        return;
      }
      // The completion commits before the client hears back, as a crash-safe layer must.
      interceptJson(response, (json, send) => {
        pool
          .query({ name: 'floor_complete', text: complete, values: [key, json] })
          .then(send, () => response.status(503).end());
      });
      next();
    }, next);
  };

  return {
    middleware: [middleware],
    driverRoundTrips: () => roundTrips.count,
    resetCounters() {
      roundTrips.count = 0;
    },
    async close() {
      await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    },
  };
}
