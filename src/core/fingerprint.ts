import { isUtf8 } from 'node:buffer';
import { createHash, hash } from 'node:crypto';
import { asBuffer } from './bytes.js';
import { canonicalize, canonicalizeJsonText } from './canonical-json.js';
import { jsonStringArray } from './json-text.js';
import type { IdempotencyRequest } from './request.js';

/**
 * SHA-256 over everything that makes two requests "the same": method, concrete path, query string,
 * media type, body (JSON canonicalised, anything else as raw bytes) and the headers the user named.
 * The fields go first as one JSON array, which is self-delimiting, so the body bytes that follow
 * can never be confused with another field: no two different requests hash the same input.
 */
export function fingerprintRequest(request: IdempotencyRequest, headerNames: readonly string[]): string {
  const mediaType = mediaTypeOf(request.header('content-type'));
  const body = bodyOf(request.body, mediaType);
  const fields: string[] = [request.method, request.path, request.query, mediaType];
  for (const name of headerNames) fields.push(name, request.header(name).join('\n'));
  fields.push(typeof body === 'string' ? 'text' : 'bytes');
  const head = jsonStringArray(fields);
  if (typeof body === 'string') return hash('sha256', head + body, 'hex');
  return createHash('sha256').update(head).update(body).digest('hex');
}

/**
 * Where a record is stored: a hash of (scope, method, path, key), so raw keys never reach storage
 * and the same key under another tenant or path is another operation.
 */
export function storageKeyOf(scope: string, method: string, path: string, key: string): string {
  return hash('sha256', jsonStringArray([scope, method, path, key]), 'hex');
}

/** The body as canonical JSON text when it is JSON, else its raw bytes. */
function bodyOf(body: IdempotencyRequest['body'], mediaType: string): string | Uint8Array {
  if (body === undefined) return '';
  if (!(body instanceof Uint8Array)) return canonicalize(body.parsed);
  if (body.length === 0) return '';
  // Invalid UTF-8 would decode to U+FFFD, making different bodies equal: hash those as bytes.
  if (!isJson(mediaType) || !isUtf8(body)) return body;
  return canonicalizeJsonText(asBuffer(body).toString('utf8')) ?? body;
}

function mediaTypeOf(values: readonly string[]): string {
  const value = values[0] ?? '';
  const end = value.indexOf(';');
  return (end === -1 ? value : value.slice(0, end)).trim().toLowerCase();
}

function isJson(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}
