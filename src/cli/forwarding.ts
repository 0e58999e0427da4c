import type { IncomingMessage } from 'node:http';

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), so a proxy must not
 * pass them on: `Connection` and every header it names, `Keep-Alive`, `TE`, `Trailer`,
 * `Transfer-Encoding`, `Upgrade` and any `Proxy-*`. `Expect` goes too: the proxy already answered
 * `100-continue` itself, and the upstream gets the whole body at once.
 */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** Header pairs of a raw header list (`rawHeaders`), without the hop-by-hop ones. Order and case are kept. */
export function endToEndHeaders(rawHeaders: readonly string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const token of rawHeaders[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
  }
  const kept: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (hopByHop.has(lower) || named.has(lower) || lower.startsWith('proxy-')) continue;
    kept.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return kept;
}

/**
 * The headers to send upstream: the client's end-to-end headers with `Host` set to the upstream's,
 * and `X-Forwarded-For` (appended to), `X-Forwarded-Host` and `X-Forwarded-Proto` telling the
 * upstream who asked and how. With `bodyLength`, the body was read whole and is sent with that length.
 */
export function upstreamRequestHeaders(
  request: IncomingMessage,
  upstreamHost: string,
  bodyLength?: number,
): string[] {
  const replaced = new Set(['host', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
  if (bodyLength !== undefined) replaced.add('content-length');
  const headers: string[] = [];
  const forwardedFor: string[] = [];
  const kept = endToEndHeaders(request.rawHeaders);
  for (let i = 0; i < kept.length; i += 2) {
    const lower = kept[i]!.toLowerCase();
    if (lower === 'x-forwarded-for') forwardedFor.push(kept[i + 1]!);
    if (!replaced.has(lower)) headers.push(kept[i]!, kept[i + 1]!);
  }
  forwardedFor.push(request.socket.remoteAddress ?? 'unknown');
  const encrypted = (request.socket as { encrypted?: boolean }).encrypted === true;
  headers.push('Host', upstreamHost, 'X-Forwarded-For', forwardedFor.join(', '));
  if (request.headers.host !== undefined) headers.push('X-Forwarded-Host', request.headers.host);
  headers.push('X-Forwarded-Proto', encrypted ? 'https' : 'http');
  if (bodyLength !== undefined && (bodyLength > 0 || hasBodySemantics(request.method))) {
    headers.push('Content-Length', String(bodyLength));
  }
  return headers;
}

/** Methods whose requests normally carry a body, so an empty one is announced as `Content-Length: 0`. */
function hasBodySemantics(method: string | undefined): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}
