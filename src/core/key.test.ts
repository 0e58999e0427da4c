import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseKeyHeader } from './key.js';

const valid = (lines: string[]) => {
  const result = parseKeyHeader(lines);
  assert.equal(result.type, 'valid', `${JSON.stringify(lines)}: ${JSON.stringify(result)}`);
  return result.type === 'valid' ? result.key : '';
};
const invalid = (lines: string[]) =>
  assert.equal(parseKeyHeader(lines).type, 'invalid', JSON.stringify(lines));

describe('parseKeyHeader', () => {
  it('treats a quoted sf-string and a bare token as the same key', () => {
    const uuid = '8e03978e-40d5-43e8-bc93-6894a57f9324';
    assert.equal(valid([`"${uuid}"`]), uuid);
    assert.equal(valid([uuid]), uuid);
    assert.equal(valid(['  abc\t']), 'abc', 'surrounding whitespace is not part of the key');
  });

  it('keeps keys case-sensitive and unescapes sf-string escapes', () => {
    assert.equal(valid(['"AbC"']), 'AbC');
    assert.equal(valid(['"a\\"b\\\\c"']), 'a"b\\c');
    assert.equal(valid(['"with space, and comma"']), 'with space, and comma');
  });

  it('accepts 1 to 255 characters', () => {
    assert.equal(valid(['k']), 'k');
    assert.equal(valid(['k'.repeat(255)]).length, 255);
    assert.equal(valid([`"${'k'.repeat(255)}"`]).length, 255);
    invalid(['k'.repeat(256)]);
    invalid([`"${'k'.repeat(256)}"`]);
  });

  it('reports a missing header separately from a bad one', () => {
    assert.deepEqual(parseKeyHeader([]), { type: 'missing' });
    for (const empty of ['', '   ', '""']) invalid([empty]);
  });

  it('rejects every control character and anything beyond printable ASCII', () => {
    for (let code = 0; code < 0x20; code++) {
      if (code === 0x09) continue; // a tab at the edges is whitespace; inside a string it is rejected below
      invalid([`"a${String.fromCharCode(code)}b"`]);
      invalid([`a${String.fromCharCode(code)}b`]);
    }
    invalid(['"a\tb"']);
    invalid(['"a\x7fb"']);
    invalid(['a\x7fb']);
    invalid(['"clé"']);
    invalid(['clé']);
    invalid(['"emoji 😀"']);
  });

  it('rejects more than one value: repeated lines, lists, parameters', () => {
    invalid(['a', 'b']);
    invalid(['a', 'a']);
    invalid(['a, b']);
    invalid(['"a", "b"']);
    invalid(['"a";p=1']);
    invalid(['a;p=1']);
  });

  it('rejects malformed strings', () => {
    invalid(['"abc']);
    invalid(['"a\\b"']);
    invalid(['"abc\\"']);
    invalid(['a"b']);
    invalid(['a\\b']);
    invalid(['a b']);
  });
});
