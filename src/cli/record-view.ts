import { isUtf8 } from 'node:buffer';
import { asBuffer } from '../core/bytes.js';
import type { IdempotencyRecord } from '../core/store.js';

export interface BodyView {
  encoding: 'utf-8' | 'base64';
  text: string;
  /** Bytes shown, out of `size`; less when the body was cut at the limit. */
  shown: number;
  size: number;
}

/**
 * A body made safe for a terminal: printable UTF-8 as text, anything else (binary, control
 * characters that could drive the terminal) as base64; cut after `maxBytes`.
 */
export function viewBody(body: Uint8Array, maxBytes: number): BodyView {
  const bytes = asBuffer(body);
  let shown = Math.min(bytes.length, maxBytes);
  // Never cut inside a UTF-8 sequence: back up to the start of the last character.
  if (shown < bytes.length) while (shown > 0 && (bytes[shown]! & 0xc0) === 0x80) shown--;
  const head = bytes.subarray(0, shown);
  const printable = isUtf8(head) && !hasControlCharacters(head.toString('utf8'));
  if (printable) return { encoding: 'utf-8', text: head.toString('utf8'), shown, size: bytes.length };
  const cut = Math.min(bytes.length, maxBytes);
  return {
    encoding: 'base64',
    text: bytes.subarray(0, cut).toString('base64'),
    shown: cut,
    size: bytes.length,
  };
}

/** C0 and C1 controls other than tab, newline and carriage return: they could drive a terminal. */
function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x09 || code === 0x0a || code === 0x0d) continue;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The record as JSON-friendly data: times as ISO strings, the body as a `BodyView`. */
export function recordData(record: IdempotencyRecord, maxBodyBytes: number) {
  const { response } = record;
  return {
    storageKey: record.key,
    state: record.state,
    fingerprint: record.fingerprint,
    createdAt: iso(record.createdAt),
    ...(record.state === 'in-flight' ? { leaseUntil: iso(record.leaseUntil) } : {}),
    expiresAt: iso(record.expiresAt),
    ...(response
      ? {
          response: {
            status: response.status,
            headers: response.headers,
            body: viewBody(response.body, maxBodyBytes),
          },
        }
      : {}),
  };
}

/** The record for a person to read. */
export function formatRecord(record: IdempotencyRecord, key: string, maxBodyBytes: number): string {
  const data = recordData(record, maxBodyBytes);
  const lines = [
    `key          ${key}`,
    `storage key  ${data.storageKey}`,
    `state        ${data.state}`,
    `fingerprint  ${data.fingerprint}`,
    `created      ${data.createdAt}`,
    ...(data.leaseUntil ? [`lease until  ${data.leaseUntil}`] : []),
    `expires      ${data.expiresAt}`,
  ];
  if (data.response) {
    const { status, headers, body } = data.response;
    lines.push(`status       ${status}`, 'headers');
    for (const [name, value] of headers) lines.push(`  ${name}: ${value}`);
    lines.push(`body         ${body.size} bytes${body.size === 0 ? '' : `, shown as ${body.encoding}`}`);
    if (body.size > 0) lines.push(...body.text.split('\n').map((line) => `  ${line}`));
    if (body.shown < body.size) {
      lines.push(`  … truncated: ${body.shown} of ${body.size} bytes shown (raise --max-body to see more)`);
    }
  }
  return `${lines.join('\n')}\n`;
}
