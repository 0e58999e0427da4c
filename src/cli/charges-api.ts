import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IdempotentIncomingMessage } from '../adapters/node/index.js';
import { defaultStoreResponse, type RouteOptions } from '../core/options.js';
import { parseChargeBody } from './charge-input.js';
import type { ChargeBook } from './charges.js';
import { credentialScope } from './credential-scope.js';
import { sendProblem } from './problem.js';

/**
 * Idempotency as Stripe applies it: keys are per account (here: per `Authorization` credential,
 * hashed so the credential itself never reaches the store), and a request that failed validation
 * is not stored, so the client can fix it and retry with the same key.
 */
export const chargesRouteOptions: RouteOptions<IncomingMessage> = {
  scope: (request) => credentialScope(request.headers.authorization),
  storeResponse: (status) => status !== 400 && status !== 415 && defaultStoreResponse(status),
};

const maxListLimit = 100;

/**
 * The demo's charges API, as a node listener for the `idemkit/node` adapter:
 * `POST /v1/charges`, `GET /v1/charges/:id`, `GET /v1/charges?limit=10` (newest first).
 *
 * @example
 * ```ts
 * createServer(idempotency(engine, chargesRouteOptions)(chargesListener(memoryCharges()))).listen(3000);
 * ```
 */
export function chargesListener(book: ChargeBook) {
  return (request: IdempotentIncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://demo.invalid');
    const method = request.method ?? 'GET';
    const match = /^\/v1\/charges(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match) {
      sendProblem(response, {
        status: 404,
        code: 'demo-not-found',
        title: 'Not found',
        detail: 'This demo serves POST /v1/charges, GET /v1/charges and GET /v1/charges/:id.',
      });
    } else if (match[1] === undefined) {
      if (method === 'POST') createCharge(book, request, response);
      else if (method === 'GET') listCharges(book, url, response);
      else methodNotAllowed(response, 'GET, POST');
    } else if (method !== 'GET') {
      methodNotAllowed(response, 'GET');
    } else {
      showCharge(book, decodeURIComponent(match[1]), response);
    }
  };
}

function showCharge(book: ChargeBook, id: string, response: ServerResponse): void {
  const charge = book.get(id);
  if (charge) {
    sendJson(response, 200, charge);
    return;
  }
  sendProblem(response, {
    status: 404,
    code: 'demo-no-such-charge',
    title: 'No such charge',
    detail: `There is no charge ${id}.`,
  });
}

function createCharge(book: ChargeBook, request: IdempotentIncomingMessage, response: ServerResponse): void {
  const parsed = parseChargeBody(request.headers['content-type'], request.rawBody);
  if (!parsed.ok) {
    sendProblem(response, {
      status: parsed.status,
      code: parsed.status === 415 ? 'demo-unsupported-media-type' : 'demo-invalid-charge',
      title: parsed.status === 415 ? 'Unsupported media type' : 'Invalid charge',
      detail: parsed.detail,
      ...(parsed.param === undefined ? {} : { extra: { param: parsed.param } }),
    });
    return;
  }
  const charge = book.create(parsed.charge);
  response.setHeader('location', `/v1/charges/${charge.id}`);
  sendJson(response, 201, charge);
}

function listCharges(book: ChargeBook, url: URL, response: ServerResponse): void {
  const limitText = url.searchParams.get('limit') ?? '10';
  const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : 0;
  if (limit < 1 || limit > maxListLimit) {
    sendProblem(response, {
      status: 400,
      code: 'demo-invalid-limit',
      title: 'Invalid limit',
      detail: `limit must be between 1 and ${maxListLimit}.`,
      extra: { param: 'limit' },
    });
    return;
  }
  const page = book.list(limit + 1);
  sendJson(response, 200, {
    object: 'list',
    url: '/v1/charges',
    has_more: page.length > limit,
    data: page.slice(0, limit),
  });
}

function methodNotAllowed(response: ServerResponse, allow: string): void {
  response.setHeader('allow', allow);
  sendProblem(response, {
    status: 405,
    code: 'demo-method-not-allowed',
    title: 'Method not allowed',
    detail: `Use ${allow}.`,
  });
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  });
  response.end(body);
}
