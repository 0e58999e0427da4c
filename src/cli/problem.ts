import type { ServerResponse } from 'node:http';
import { sendResponse } from '../core/node-http.js';
import { type Problem, problemBody } from '../core/problem.js';

export type CliProblem = Problem;

/**
 * Answer with an RFC 9457 problem, built exactly as the engine builds its own (one `type` per
 * error, never cached), so a client handles the demo's and the proxy's errors like idemkit's.
 */
export function sendProblem(response: ServerResponse, problem: CliProblem): void {
  sendResponse(response, problemBody(problem));
}
