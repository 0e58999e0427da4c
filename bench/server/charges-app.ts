import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { benchHeaders, type ChargeBody } from '../shared/protocol.js';
import type { ExecutionLedger } from './execution-ledger.js';

export interface ChargesAppOptions {
  /** The idempotency layer under test, mounted between the body parser and the handler. */
  middleware: RequestHandler[];
  /**
   * express-idempotency calls `next()` even when it already answered (its README has the handler
   * ask `isHit(req)` and return), so the handler asks the variant first.
   */
  alreadyAnswered?: (request: express.Request) => boolean;
  ledger: ExecutionLedger;
  /** Size of the JSON body the handler answers with, bytes (approximate; 0 = a small charge). */
  responseBytes: number;
}

/**
 * The app every variant shares: `POST /v1/charges`, a trivial handler that counts its executions
 * per key and answers 201 JSON. Everything else (Express defaults, body parser) is the same for all.
 */
export function chargesApp(options: ChargesAppOptions): express.Express {
  const { ledger, alreadyAnswered } = options;
  const padding = paddingFor(options.responseBytes);
  let sequence = 0;

  const app = express();
  app.post('/v1/charges', express.json(), ...options.middleware, (request, response) => {
    if (alreadyAnswered?.(request)) return;
    ledger.record(request.get('idempotency-key'));
    const input = (request.body ?? {}) as { amount?: unknown; currency?: unknown };
    const answer = (): void => {
      const body: ChargeBody = {
        id: `ch_${++sequence}`,
        object: 'charge',
        amount: typeof input.amount === 'number' ? input.amount : 0,
        currency: typeof input.currency === 'string' ? input.currency : 'usd',
        requestId: request.get(benchHeaders.requestId) ?? null,
        completedAt: performance.timeOrigin + performance.now(),
      };
      if (padding) body.padding = padding;
      response.status(201).json(body);
    };
    const delay = Number(request.get(benchHeaders.delay) ?? 0);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  app.use(answerErrors);
  return app;
}

/**
 * Errors a layer passes to `next(err)` (express-idempotency answers 409 that way) are answered
 * as JSON with the status the layer set, without Express's default stack trace on stderr.
 */
const answerErrors: ErrorRequestHandler = (error: unknown, _request, response, next) => {
  if (response.headersSent) return next(error);
  const status = response.statusCode >= 400 ? response.statusCode : 500;
  response.status(status).json({ error: error instanceof Error ? error.message : String(error) });
};

/** Filler that brings a charge's JSON to about `bytes` (a small charge is about 150 bytes). */
function paddingFor(bytes: number): string | undefined {
  return bytes > 0 ? 'x'.repeat(Math.max(0, bytes - 160)) : undefined;
}
