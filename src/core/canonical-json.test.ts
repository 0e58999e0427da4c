import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalize, canonicalizeJsonText } from './canonical-json.js';

describe('canonicalizeJsonText (RFC 8785)', () => {
  it('ignores member order and whitespace at every depth', () => {
    const a = canonicalizeJsonText('{"b":[1,{"y":2,"x":1}],"a":"s"}');
    const b = canonicalizeJsonText(' {\n "a" : "s",\t"b": [ 1, { "x": 1, "y": 2 } ] }');
    assert.equal(a, '{"a":"s","b":[1,{"x":1,"y":2}]}');
    assert.equal(a, b);
  });

  it('serialises numbers as ECMAScript does', () => {
    assert.equal(canonicalizeJsonText('[1.0, 1e2, -0, 0.000001, 1e-7, 100e-2]'), '[1,100,0,0.000001,1e-7,1]');
  });

  it('orders members by UTF-16 code units', () => {
    assert.equal(canonicalizeJsonText('{"é":1,"z":2,"😀":3,"\\ufb33":4}'), '{"z":2,"é":1,"😀":3,"\ufb33":4}');
  });

  it('orders members as the default sort does, for objects of any size', () => {
    // Integer-like names come first in Object.keys but not in code-unit order; sizes straddle the
    // point where the insertion sort hands over to Array.prototype.sort.
    const alphabet = ['a', 'B', 'z', '9', '10', '2', 'é', '😀', '\ufb33', '_', 'aa', 'A', ''];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let size = 0; size <= 40; size++) {
      const value: Record<string, number> = {};
      while (Object.keys(value).length < size) {
        value[`${alphabet[random(alphabet.length)]}${alphabet[random(alphabet.length)]}`] = size;
      }
      const expected = Object.keys(value).sort();
      const inOrder = `{${expected.map((name) => `${JSON.stringify(name)}:${size}`).join(',')}}`;
      assert.equal(canonicalize(value), inOrder, `${size} members`);
    }
  });

  it('keeps arrays in order, since order is meaningful there', () => {
    assert.notEqual(canonicalizeJsonText('[1,2]'), canonicalizeJsonText('[2,1]'));
  });

  it('refuses numbers a double would round, so different amounts never look equal', () => {
    assert.equal(canonicalizeJsonText('{"amount":12345678901234567890}'), undefined);
    assert.equal(canonicalizeJsonText('{"amount":1234567890.1234567}'), undefined);
    assert.equal(canonicalizeJsonText('{"tiny":1e-400}'), undefined);
    assert.equal(canonicalizeJsonText('{"huge":1e400}'), undefined);
    assert.equal(canonicalizeJsonText('{"ok":123456789012345}'), '{"ok":123456789012345}');
  });

  it('does not mistake digits inside strings for numbers', () => {
    assert.equal(
      canonicalizeJsonText('{"card":"4242424242424242424242"}'),
      '{"card":"4242424242424242424242"}',
    );
    assert.equal(
      canonicalizeJsonText('{"q":"say \\"12345678901234567890\\""}'),
      '{"q":"say \\"12345678901234567890\\""}',
    );
  });

  it('returns undefined for text that is not JSON', () => {
    assert.equal(canonicalizeJsonText('{"a":'), undefined);
    assert.equal(canonicalizeJsonText('amount=100'), undefined);
  });

  it('canonicalises parsed values the same way as text', () => {
    assert.equal(canonicalize({ b: 1, a: [true, null, 'x'], c: undefined }), '{"a":[true,null,"x"],"b":1}');
    assert.equal(canonicalize(new Date(0)), '"1970-01-01T00:00:00.000Z"');
  });

  it('leaves out the members and array entries JSON.stringify leaves out, wherever they fall', () => {
    const value = { a: undefined, c: [undefined, () => 1, 2], b: { z: () => 1, y: {} }, d: [] };
    assert.equal(canonicalize(value), '{"b":{"y":{}},"c":[null,null,2],"d":[]}');
    assert.equal(canonicalize(value), canonicalizeJsonText(JSON.stringify(value)));
  });
});
