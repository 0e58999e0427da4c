/**
 * `JSON.stringify` for the strings and scalars that fingerprints and storage keys are made of,
 * with the same output. A first execution serialises about ten of them (the identity, the
 * fingerprint's fields, each member name and value of the body), and each `JSON.stringify` call
 * costs ~900 instructions of set-up (replacer, string builder) before it writes a character.
 * Most of these strings need no escaping, and are quoted here instead.
 */

/**
 * What `JSON.stringify` escapes: quote, backslash and control characters, and lone surrogates.
 * Any surrogate sends the string to it, which tells a lone one from a pair.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const needsEscaping = /["\\\u0000-\u001f\ud800-\udfff]/;

/** `JSON.stringify(text)`. */
export function jsonString(text: string): string {
  return needsEscaping.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/** `JSON.stringify(strings)`: a JSON array of strings. */
export function jsonStringArray(strings: readonly string[]): string {
  let out = '[';
  for (let i = 0; i < strings.length; i++) out += (i === 0 ? '' : ',') + jsonString(strings[i]!);
  return `${out}]`;
}

/**
 * `JSON.stringify(value)` for anything but an object: a number is its ECMAScript text (what
 * JSON prescribes) or `null` when not finite; other kinds (bigint throws, undefined gives
 * undefined) go to `JSON.stringify` itself.
 */
export function jsonScalar(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return jsonString(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return value === null ? 'null' : JSON.stringify(value);
  }
}
