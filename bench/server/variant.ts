import type { Request, RequestHandler } from 'express';
import type { StoreCallCounts } from '../shared/protocol.js';

/** One idempotency layer, ready to mount on the charges route. */
export interface Variant {
  middleware: RequestHandler[];
  /** See `ChargesAppOptions.alreadyAnswered`. */
  alreadyAnswered?: (request: Request) => boolean;
  storeCalls?: () => StoreCallCounts;
  driverRoundTrips?: () => number | null;
  resetCounters?: () => void;
  close(): Promise<void>;
}
