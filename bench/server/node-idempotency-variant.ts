import { Idempotency, IdempotencyError, IdempotencyErrorCodes } from '@node-idempotency/core';
import { MemoryStorageAdapter } from '@node-idempotency/storage-adapter-memory';
import type { RequestHandler, Response } from 'express';
import type { Variant } from './variant.js';

/** The statuses @node-idempotency's own framework plugins answer for each error code. */
const statusFor: Record<string, number> = {
  [IdempotencyErrorCodes.REQUEST_IN_PROGRESS]: 409,
  [IdempotencyErrorCodes.IDEMPOTENCY_FINGERPRINT_MISSMATCH]: 422,
  [IdempotencyErrorCodes.IDEMPOTENCY_KEY_LEN_EXEEDED]: 400,
  [IdempotencyErrorCodes.IDEMPOTENCY_KEY_MISSING]: 400,
};

/**
 * @node-idempotency/core 1.0.11 with its memory adapter, wired through the core API as its README
 * shows: `onRequest()` before the handler (a returned response is replayed with
 * `res.status(additional.status).send(body)`), `onResponse()` with the handler's body and status.
 * Its Express package is not published on the registry this machine uses, so this middleware does
 * by hand what that package does: capture the body as the handler sends it, without delaying
 * the response for the store write.
 *
 * One option differs from the defaults: `inProgressStrategy: { wait: true }`, its documented way to
 * make a duplicate wait for the original (it polls every 100 ms) instead of failing at once, which
 * is the behaviour idemkit has by default.
 */
export function nodeIdempotencyVariant(): Variant {
  const idempotency = new Idempotency(new MemoryStorageAdapter(), {
    inProgressStrategy: { wait: true },
  });

  const middleware: RequestHandler = async (request, response, next) => {
    const params = {
      method: request.method,
      headers: request.headers as Record<string, unknown>,
      body: request.body as Record<string, unknown> | undefined,
      path: request.originalUrl,
    };
    let stored: Awaited<ReturnType<typeof idempotency.onRequest>>;
    try {
      stored = await idempotency.onRequest(params);
    } catch (error) {
      if (!(error instanceof IdempotencyError)) return next(error);
      response.status(statusFor[error.code] ?? 500).json({ error: error.message });
      return;
    }
    if (stored) {
      const status = Number(stored.additional?.status ?? 200);
      response.status(status).set('idempotent-replayed', 'true').send(stored.body);
      return;
    }
    captureJson(response, (body) => {
      void idempotency.onResponse(params, { body, additional: { status: response.statusCode } });
    });
    next();
  };

  return { middleware: [middleware], close: async () => undefined };
}

/** Hand the body of `res.json(body)` to `onBody` before it is sent. */
function captureJson(response: Response, onBody: (body: unknown) => void): void {
  const json = response.json;
  response.json = function captured(this: Response, body?: unknown) {
    onBody(body);
    return json.call(this, body);
  };
}
