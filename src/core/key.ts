/**
 * Parsing of the `Idempotency-Key` request header (draft-ietf-httpapi-idempotency-key-header):
 * an RFC 8941 sf-string (`"abc"`), or, leniently, a bare value (`abc`, an unquoted UUID).
 * Both spell the same key. Keys are 1–255 printable ASCII characters and case-sensitive.
 */

export const maxKeyLength = 255;

export type KeyParseResult =
  | { type: 'missing' }
  | { type: 'valid'; key: string }
  | { type: 'invalid'; detail: string };

/**
 * @param lines the header's values, one per header line as received. Runtimes that fold repeated
 *   lines into one comma-joined value (fetch's Headers) still fail, as a list of several items.
 */
export function parseKeyHeader(lines: readonly string[]): KeyParseResult {
  if (lines.length === 0) return { type: 'missing' };
  if (lines.length > 1) return invalid('The Idempotency-Key header was sent more than once.');
  const value = trimOws(lines[0]!);
  if (value === '') return invalid('The Idempotency-Key header is empty.');
  const parsed = value.startsWith('"') ? parseSfString(value) : parseBare(value);
  if (parsed.type !== 'valid') return parsed;
  if (parsed.key.length === 0) return invalid('The Idempotency-Key is an empty string.');
  if (parsed.key.length > maxKeyLength) {
    return invalid(
      `The Idempotency-Key is ${parsed.key.length} characters long; at most ${maxKeyLength} are allowed.`,
    );
  }
  return parsed;
}

function parseSfString(value: string): KeyParseResult {
  let key = '';
  for (let i = 1; i < value.length; i++) {
    const char = value[i]!;
    const code = value.charCodeAt(i);
    if (char === '"') {
      if (i === value.length - 1) return { type: 'valid', key };
      return invalid(
        'The Idempotency-Key must be a single string, without parameters or further list items.',
      );
    }
    if (char === '\\') {
      const next = value[++i];
      if (next !== '"' && next !== '\\')
        return invalid('The Idempotency-Key has an invalid escape sequence.');
      key += next;
    } else if (code < 0x20 || code > 0x7e) {
      return invalid(describeBadChar(code));
    } else {
      key += char;
    }
  }
  return invalid('The Idempotency-Key string is not terminated.');
}

function parseBare(value: string): KeyParseResult {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x2c) return invalid('The Idempotency-Key header holds more than one value.');
    if (code < 0x21 || code > 0x7e) return invalid(describeBadChar(code));
    // A bare key may not contain what would make it ambiguous as a structured field.
    if (code === 0x22 || code === 0x3b || code === 0x5c) {
      return invalid(
        'An unquoted Idempotency-Key may not contain `"`, `;` or `\\`; quote it as an sf-string.',
      );
    }
  }
  return { type: 'valid', key: value };
}

function describeBadChar(code: number): string {
  if (code > 0x7e && code !== 0x7f)
    return 'The Idempotency-Key must be printable ASCII; it contains a non-ASCII character.';
  if (code === 0x20) return 'An unquoted Idempotency-Key may not contain spaces; quote it as an sf-string.';
  return `The Idempotency-Key contains the control character 0x${code.toString(16).padStart(2, '0')}.`;
}

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function invalid(detail: string): KeyParseResult {
  return { type: 'invalid', detail };
}
