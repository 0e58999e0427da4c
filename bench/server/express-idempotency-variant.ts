import { getSharedIdempotencyService, idempotency } from 'express-idempotency';
import type { Variant } from './variant.js';

/**
 * express-idempotency 1.0.6, as its README wires it: `idempotency()` with defaults (its in-memory
 * data adapter) on the route, and the handler returning early when `isHit(req)` says the
 * middleware already answered. Mounted after `express.json()`, since its intent check compares
 * `req.body`.
 */
export function expressIdempotencyVariant(): Variant {
  const middleware = idempotency();
  return {
    middleware: [middleware],
    alreadyAnswered: (request) => getSharedIdempotencyService().isHit(request),
    close: async () => undefined,
  };
}
