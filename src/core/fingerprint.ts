import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { canonicalize, canonicalizeJsonText } from './canonical-json.js';
import type { IdempotencyRequest } from './request.js';

/**
 * SHA-256 over everything that makes two requests "the same": method, concrete path, query string,
 * media type, body (JSON canonicalised, anything else as raw bytes) and the headers the user named.
 * Fields are length-prefixed so that no two different requests can produce the same byte stream.
 */
export function fingerprintRequest(request: IdempotencyRequest, headerNames: readonly string[]): string {
  const hash = createHash('sha256');
  const mediaType = mediaTypeOf(request.header('content-type'));
  field(hash, request.method);
  field(hash, request.path);
  field(hash, request.query);
  field(hash, mediaType);
  field(hash, bodyBytes(request.body, mediaType));
  for (const name of headerNames) {
    field(hash, name);
    field(hash, request.header(name).join('\n'));
  }
  return hash.digest('hex');
}

/**
 * Where a record is stored: a hash of (scope, method, path, key), so raw keys never reach storage
 * and the same key under another tenant or path is another operation.
 */
export function storageKeyOf(scope: string, method: string, path: string, key: string): string {
  const hash = createHash('sha256');
  for (const part of [scope, method, path, key]) field(hash, part);
  return hash.digest('hex');
}

function field(hash: Hash, value: string | Uint8Array): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  hash.update(`${bytes.length}:`);
  hash.update(bytes);
}

function bodyBytes(body: IdempotencyRequest['body'], mediaType: string): string | Uint8Array {
  if (body === undefined) return '';
  if (!(body instanceof Uint8Array)) return canonicalize(body.parsed);
  // Invalid UTF-8 would decode to U+FFFD, making different bodies equal: hash those as bytes.
  if (body.length === 0 || !isJson(mediaType) || !isUtf8(body)) return body;
  return (
    canonicalizeJsonText(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8')) ?? body
  );
}

function mediaTypeOf(values: readonly string[]): string {
  const value = values[0] ?? '';
  const end = value.indexOf(';');
  return (end === -1 ? value : value.slice(0, end)).trim().toLowerCase();
}

function isJson(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}
