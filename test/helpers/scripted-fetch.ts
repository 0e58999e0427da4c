/** A request as a scripted fetch saw it, body already read. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Headers;
  body: Uint8Array;
  text: string;
}

/** One scripted answer: a Response, an error to reject with, or a function of the request. */
export type ScriptedAnswer = Response | Error | ((request: Request) => Promise<Response> | Response);

export interface ScriptedFetch {
  (request: Request): Promise<Response>;
  readonly seen: SeenRequest[];
}

/**
 * A fetch that answers from a script, in order, and records what it was sent. Asking past the end
 * of the script fails the test loudly instead of hanging.
 */
export function scriptedFetch(...answers: ScriptedAnswer[]): ScriptedFetch {
  const seen: SeenRequest[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const body = new Uint8Array(await request.arrayBuffer());
    seen.push({
      method: request.method,
      url: request.url,
      headers: request.headers,
      body,
      text: new TextDecoder().decode(body),
    });
    const answer = answers[seen.length - 1];
    if (answer === undefined) throw new Error(`scripted fetch: no answer for request ${seen.length}`);
    if (answer instanceof Error) throw answer;
    return typeof answer === 'function' ? answer(request) : answer;
  };
  return Object.assign(fetch, { seen });
}

/** A fetch that never answers until its request's signal aborts (a hung server). */
export function hangingFetch(): ScriptedFetch {
  const seen: SeenRequest[] = [];
  const fetch = (request: Request): Promise<Response> => {
    seen.push({
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: new Uint8Array(),
      text: '',
    });
    return new Promise((_, reject) => {
      request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true });
    });
  };
  return Object.assign(fetch, { seen });
}

/** A JSON problem document, as idemkit answers a duplicate of a request still running. */
export function inFlightProblem(retryAfter?: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  return new Response(
    JSON.stringify({
      type: 'https://idemkit.dev/problems/idempotency-key-in-flight',
      title: 'A request with this key is still being processed',
      status: 409,
    }),
    { status: 409, headers },
  );
}
