import { Agent, request as httpRequest } from 'node:http';

/** A request as the suites send it: headers as pairs, so a name may repeat (two header lines). */
export interface RawRequest {
  method?: string;
  path: string;
  headers?: Array<[string, string]>;
  body?: string | Uint8Array;
  /** Destroy the connection this many ms after sending, and resolve with `aborted`. */
  abortAfterMs?: number;
  /**
   * Destroy the connection once this settles (say, when the handler has started: on a loaded
   * machine a fixed delay can fire before the server even reads the request), and resolve with
   * `aborted`.
   */
  abortOn?: Promise<unknown>;
}

export interface RawResponse {
  status: number;
  /** Header pairs as received; names lower-case. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** The first value of a header. */
  header(name: string): string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, read by assertions.
  json(): any;
}

export const suiteAgent = new Agent({ keepAlive: true, maxSockets: 256 });

/** Send one request over a real socket with node:http, which lets us send what fetch would refuse. */
export function send(baseUrl: string, options: RawRequest): Promise<RawResponse | 'aborted'> {
  return new Promise((resolve, reject) => {
    const url = new URL(options.path, baseUrl);
    const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
    const request = httpRequest(url, { method: options.method ?? 'POST', agent: suiteAgent });
    for (const [name, values] of group(options.headers ?? []))
      request.setHeader(name, values.length === 1 ? values[0]! : values);
    if (body) request.setHeader('content-length', String(body.length));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const headers: Array<[string, string]> = [];
        for (let i = 0; i < response.rawHeaders.length; i += 2) {
          headers.push([response.rawHeaders[i]!.toLowerCase(), response.rawHeaders[i + 1]!]);
        }
        const bytes = Buffer.concat(chunks);
        resolve({
          status: response.statusCode ?? 0,
          headers,
          body: bytes,
          header: (name) => headers.find(([key]) => key === name.toLowerCase())?.[1],
          json: () => JSON.parse(bytes.toString('utf8')),
        });
      });
    });
    const aborting = options.abortAfterMs !== undefined || options.abortOn !== undefined;
    request.on('error', (error) => (aborting ? resolve('aborted') : reject(error)));
    request.end(body);
    const abort = () => {
      request.destroy();
      resolve('aborted');
    };
    if (options.abortAfterMs !== undefined) setTimeout(abort, options.abortAfterMs);
    options.abortOn?.then(abort, abort);
  });
}

/** `send` for requests that must come back with a response. */
export async function sendOk(baseUrl: string, options: RawRequest): Promise<RawResponse> {
  const response = await send(baseUrl, options);
  if (response === 'aborted') throw new Error(`request to ${options.path} was aborted`);
  return response;
}

function group(pairs: Array<[string, string]>): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of pairs) grouped.set(name, [...(grouped.get(name) ?? []), value]);
  return grouped;
}
