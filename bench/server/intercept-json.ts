import type { Response } from 'express';

/**
 * Replace `res.json(body)` with `handle(json, send)`: the body is serialised once, and `send()`
 * answers with that text as Express's own `res.json` would (Content-Type JSON, then `res.send`).
 * For the floor probes, which keep or store the serialised body before (or instead of) answering.
 */
export function interceptJson(response: Response, handle: (json: string, send: () => void) => void): void {
  const send = response.send;
  response.json = (body: unknown) => {
    const json = JSON.stringify(body);
    handle(json, () => send.call(response.type('json'), json));
    return response;
  };
}
