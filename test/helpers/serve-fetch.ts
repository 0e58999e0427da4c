import { createServer, type Server } from 'node:http';
import { Readable } from 'node:stream';

/** Serve a fetch-standard handler over node:http, the way fetch runtimes do (test bridge only). */
export function serveFetch(handler: (request: Request) => Promise<Response>): Server {
  return createServer(async (req, res) => {
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : null,
      signal: controller.signal,
      duplex: 'half',
    } as RequestInit);
    try {
      const response = await handler(request);
      const pairs: string[] = [];
      for (const [name, value] of response.headers) pairs.push(name, value);
      res.writeHead(response.status, pairs);
      if (!response.body) return void res.end();
      Readable.fromWeb(response.body as never).pipe(res);
    } catch {
      if (!res.headersSent) res.writeHead(500).end('Internal Server Error');
      else res.destroy();
    }
  });
}
