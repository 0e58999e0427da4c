import type { VariantName } from '../shared/protocol.js';
import { expressIdempotencyVariant } from './express-idempotency-variant.js';
import { floorMemoryVariant } from './floor-memory-variant.js';
import { floorPostgresVariant } from './floor-postgres-variant.js';
import { idemkitVariant } from './idemkit-variant.js';
import { nodeIdempotencyVariant } from './node-idempotency-variant.js';
import type { Variant } from './variant.js';

/** The idempotency layer a variant name stands for, set up and ready to mount. */
export async function createVariant(name: VariantName): Promise<Variant> {
  switch (name) {
    case 'bare':
      return { middleware: [], close: async () => undefined };
    case 'idemkit-memory':
      return idemkitVariant('memory');
    case 'idemkit-sqlite':
      return idemkitVariant('sqlite');
    case 'idemkit-postgres':
      return idemkitVariant('postgres');
    case 'idemkit-redis':
      return idemkitVariant('redis');
    case 'express-idempotency':
      return expressIdempotencyVariant();
    case 'node-idempotency':
      return nodeIdempotencyVariant();
    case 'floor-memory':
      return floorMemoryVariant();
    case 'floor-postgres':
      return floorPostgresVariant();
  }
}
