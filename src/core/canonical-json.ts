/**
 * RFC 8785 (JSON Canonicalization Scheme) for request fingerprints: member order and whitespace
 * stop mattering, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are the same request.
 */

import { jsonScalar, jsonString } from './json-text.js';

/**
 * Canonical text of a JSON document, or undefined when canonicalising could make two different
 * documents look alike: numbers that a double cannot hold exactly (16+ significant digits, huge or
 * tiny exponents) would collapse, so such bodies are fingerprinted by their raw bytes instead.
 * A false "different" costs a 422; a false "same" would replay another request's response.
 */
export function canonicalizeJsonText(text: string): string | undefined {
  if (hasLossyNumber(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return canonicalize(value);
}

/** Canonical text of an already parsed value (a framework's parsed body). */
export function canonicalize(value: unknown): string {
  return append('', value);
}

/** `text` followed by the canonical text of `value`: one string grown in place, no arrays to join. */
function append(text: string, value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // ECMAScript's number and string serialisation is exactly what RFC 8785 prescribes.
    return text + (jsonScalar(value) ?? 'null');
  }
  if (Array.isArray(value)) {
    let out = `${text}[`;
    for (let i = 0; i < value.length; i++) out = append(i === 0 ? out : `${out},`, value[i]);
    return `${out}]`;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return append(text, (value as { toJSON(): unknown }).toJSON());
  }
  const record = value as Record<string, unknown>;
  const names = sortedNames(Object.keys(record));
  let out = `${text}{`;
  let first = true;
  for (const name of names) {
    const member = record[name];
    if (member === undefined || typeof member === 'function') continue;
    out = append(`${first ? out : `${out},`}${jsonString(name)}:`, member);
    first = false;
  }
  return `${out}}`;
}

/** Up to this many names are sorted by insertion: most request bodies are objects of a few members. */
const insertionSortLimit = 16;

/**
 * `names` in UTF-16 code-unit order, the order RFC 8785 requires (and the default sort's). For a
 * few names an insertion sort in place is ~4 × faster than `Array.prototype.sort`, which also
 * allocates a work area each call; longer lists use it, since insertion sort is quadratic.
 */
function sortedNames(names: string[]): string[] {
  if (names.length > insertionSortLimit) return names.sort();
  for (let i = 1; i < names.length; i++) {
    const name = names[i]!;
    let j = i - 1;
    for (; j >= 0 && names[j]! > name; j--) names[j + 1] = names[j]!;
    names[j + 1] = name;
  }
  return names;
}

function hasLossyNumber(text: string): boolean {
  let i = 0;
  const length = text.length;
  while (i < length) {
    const code = text.charCodeAt(i);
    if (code === 0x22) {
      i = skipString(text, i + 1);
    } else if (code === 0x2d || (code >= 0x30 && code <= 0x39)) {
      const end = numberEnd(text, i);
      if (isLossy(text.slice(i, end))) return true;
      i = end;
    } else {
      i++;
    }
  }
  return false;
}

function skipString(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === 0x5c) i += 2;
    else if (code === 0x22) return i + 1;
    else i++;
  }
  return i;
}

function numberEnd(text: string, from: number): number {
  let i = from + 1;
  while (i < text.length && /[0-9eE+\-.]/.test(text[i]!)) i++;
  return i;
}

function isLossy(literal: string): boolean {
  const match = /^-?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!match) return false; // not a number JSON.parse accepts; it will reject the document
  const digits = `${match[1] ?? ''}${match[2] ?? ''}`.replace(/^0+/, '').replace(/0+$/, '');
  const exponent = Math.abs(Number(match[3] ?? 0));
  return digits.length > 15 || exponent > 300;
}
