import type { ServerResponse } from 'node:http';
import { problemTypeBase } from '../core/problem.js';

export interface CliProblem {
  status: number;
  /** Becomes the `type` URI (after the shared base) and the `code` member. */
  code: string;
  title: string;
  detail: string;
  /** Extra members (e.g. `param` for a bad request parameter). */
  extra?: Record<string, unknown>;
  /** Seconds, for 503s a client should retry. */
  retryAfter?: number;
}

/**
 * Answer with an RFC 9457 problem, in the same shape as the engine's own (one `type` per error,
 * never cached), so a client handles the demo's and the proxy's errors like idemkit's.
 */
export function sendProblem(response: ServerResponse, problem: CliProblem): void {
  const body = JSON.stringify({
    type: problemTypeBase + problem.code,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    code: problem.code,
    ...problem.extra,
  });
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (problem.retryAfter !== undefined) headers['retry-after'] = String(problem.retryAfter);
  response.writeHead(problem.status, headers);
  response.end(body);
}
