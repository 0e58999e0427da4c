/**
 * Headers never stored for replay: per-connection (hop-by-hop) headers, ones that would be wrong
 * on a later response (`date`, `content-length`: recomputed), ones that must not leak to another
 * client (`set-cookie`), and our own markers (re-added on replay).
 */
const neverReplayed = new Set([
  'set-cookie',
  'date',
  'content-length',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'idempotency-key',
  'idempotent-replayed',
]);

/** The response headers worth replaying, in order; names lower-cased. */
export function replayableHeaders(
  headers: ReadonlyArray<readonly [string, string]>,
): Array<[string, string]> {
  // Headers a `Connection` header names are hop-by-hop too. Rare, so only then is a set built.
  let connectionTokens: Set<string> | undefined;
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'connection') continue;
    connectionTokens ??= new Set();
    for (const token of value.split(',')) connectionTokens.add(token.trim().toLowerCase());
  }
  const kept: Array<[string, string]> = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (!neverReplayed.has(lower) && !connectionTokens?.has(lower)) kept.push([lower, value]);
  }
  return kept;
}
