import type { IdempotencyErrorCode } from './errors.js';
import type { CapturedResponse } from './request.js';

/** Base of the problem `type` URIs; each answer's type is this plus its code. */
export const problemTypeBase = 'https://idemkit.dev/problems/';

export type ProblemCode = Exclude<
  IdempotencyErrorCode,
  'idempotency-store-timeout' | 'idempotency-invalid-option'
>;

const problems: Record<ProblemCode, { status: number; title: string }> = {
  'idempotency-key-invalid': { status: 400, title: 'Invalid Idempotency-Key' },
  'idempotency-key-missing': { status: 400, title: 'Idempotency-Key required' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency-Key reused with a different request' },
  'idempotency-key-in-flight': { status: 409, title: 'Request with this Idempotency-Key is in progress' },
  'idempotency-store-unavailable': { status: 503, title: 'Idempotency store unavailable' },
};

/** Any problem idemkit answers with: the engine's own, and the CLI's (proxy, demo). */
export interface Problem {
  status: number;
  /** Becomes the `type` URI (after `problemTypeBase`) and the `code` member. */
  code: string;
  title: string;
  detail: string;
  /** Extra members (e.g. `param` for a bad request parameter). */
  extra?: Record<string, unknown>;
  /** Seconds, for answers a client should retry. */
  retryAfter?: number;
}

/** An RFC 9457 problem+json response, never cached, one distinct `type` per error. */
export function problemBody(problem: Problem): CapturedResponse {
  const { status, code, title, detail } = problem;
  const body = JSON.stringify({
    type: problemTypeBase + code,
    title,
    status,
    detail,
    code,
    ...problem.extra,
  });
  const headers: Array<[string, string]> = [
    ['content-type', 'application/problem+json'],
    ['cache-control', 'no-store'],
  ];
  if (problem.retryAfter !== undefined) headers.push(['retry-after', String(problem.retryAfter)]);
  return { status, headers, body: Buffer.from(body, 'utf8') };
}

/** One of the engine's own problems, by code. */
export function problemResponse(
  code: ProblemCode,
  detail: string,
  retryAfterSeconds?: number,
): CapturedResponse {
  return problemBody({ ...problems[code], code, detail, retryAfter: retryAfterSeconds });
}
