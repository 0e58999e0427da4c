/** A request as the engine sees it: what every adapter translates its framework's request into. */
export interface IdempotencyRequest<Native = unknown> {
  /** Upper-case method. */
  method: string;
  /** The concrete path, without the query string (`/v1/charges/ch_1`, not `/v1/charges/:id`). */
  path: string;
  /** The raw query string without `?`, or ''. */
  query: string;
  /** Every value of a header, one per header line as received; [] when absent. Name is lower-case. */
  header(name: string): string[];
  /**
   * The body as raw bytes, or a framework's already-parsed body when the bytes are gone
   * (e.g. after `express.json()`), or undefined when there is none.
   */
  body: Uint8Array | { parsed: unknown } | undefined;
  /** The framework's own request object, handed to the `scope` option. */
  native: Native;
}

/** A complete response: what the engine answers with, and what adapters capture from handlers. */
export interface CapturedResponse {
  status: number;
  /** Header pairs, names lower-case; repeated names appear repeatedly. */
  headers: Array<[string, string]>;
  body: Uint8Array;
}
