import { randomBytes } from 'node:crypto';
import type { SqliteConnection } from './store-url.js';

/** A charge as the demo API returns it (the fields of a Stripe charge that matter here). */
export interface Charge {
  id: string;
  object: 'charge';
  amount: number;
  currency: string;
  source: string;
  /** Unix seconds, as Stripe has it. */
  created: number;
}

export type ChargeInput = Pick<Charge, 'amount' | 'currency' | 'source'>;

/** Where the demo keeps its charges. */
export interface ChargeBook {
  create(input: ChargeInput): Charge;
  get(id: string): Charge | undefined;
  /** Newest first. */
  list(limit: number): Charge[];
}

function newCharge(input: ChargeInput): Charge {
  return {
    id: `ch_${randomBytes(12).toString('hex')}`,
    object: 'charge',
    amount: input.amount,
    currency: input.currency,
    source: input.source,
    created: Math.floor(Date.now() / 1000),
  };
}

/**
 * Charges in this process only: they vanish with it (used when the store is not SQLite).
 *
 * @example
 * ```ts
 * const book = memoryCharges();
 * book.create({ amount: 2000, currency: 'usd', source: 'tok_visa' });
 * ```
 */
export function memoryCharges(): ChargeBook {
  const charges: Charge[] = [];
  return {
    create(input) {
      const charge = newCharge(input);
      charges.push(charge);
      return charge;
    },
    get: (id) => charges.find((charge) => charge.id === id),
    list: (limit) => charges.slice(-limit).reverse(),
  };
}

interface ChargeRow {
  id: string;
  amount: number;
  currency: string;
  source: string;
  created: number;
}

/**
 * Charges in a table of the SQLite file that also holds the idempotency records, so a restarted
 * demo still has the charges its replays describe.
 *
 * @example
 * ```ts
 * const opened = await openStore(parseStoreUrl('sqlite:./idemkit-demo.db'));
 * const book = sqliteCharges(opened.sqlite!);
 * ```
 */
export function sqliteCharges(database: SqliteConnection): ChargeBook {
  database.exec(`CREATE TABLE IF NOT EXISTS idemkit_demo_charges (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  amount INTEGER NOT NULL,
  currency TEXT NOT NULL,
  source TEXT NOT NULL,
  created INTEGER NOT NULL
)`);
  const insert = database.prepare(
    'INSERT INTO idemkit_demo_charges (id, amount, currency, source, created) VALUES (?, ?, ?, ?, ?)',
  );
  const byId = database.prepare(
    'SELECT id, amount, currency, source, created FROM idemkit_demo_charges WHERE id = ?',
  );
  // seq, not created: several charges share a second, and insertion order is what "newest" means.
  const newest = database.prepare(
    'SELECT id, amount, currency, source, created FROM idemkit_demo_charges ORDER BY seq DESC LIMIT ?',
  );
  // Built field by field so a stored charge reads exactly like a freshly created one.
  const fromRow = ({ id, amount, currency, source, created }: ChargeRow): Charge => ({
    id,
    object: 'charge',
    amount,
    currency,
    source,
    created,
  });
  return {
    create(input) {
      const charge = newCharge(input);
      insert.run(charge.id, charge.amount, charge.currency, charge.source, charge.created);
      return charge;
    },
    get(id) {
      const row = byId.get(id) as ChargeRow | undefined;
      return row && fromRow(row);
    },
    list: (limit) => (newest.all(limit) as ChargeRow[]).map(fromRow),
  };
}
