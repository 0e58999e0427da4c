import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonScalar, jsonString, jsonStringArray } from './json-text.js';

const strings = [
  '',
  'plain',
  'POST',
  '/v1/charges',
  'a "quoted" word',
  'back\\slash',
  'tab\there, newline\nthere',
  '\u0000\u0001\u001f',
  '\u007f and é, ü, 中文',
  'a pair: \ud83d\ude00',
  'lone high \ud800 and lone low \udc00',
  '\udc00\ud800 (reversed pair)',
  '\u2028\u2029',
];

describe('jsonString', () => {
  it('writes what JSON.stringify writes, escaping or not', () => {
    for (const text of strings) assert.equal(jsonString(text), JSON.stringify(text), JSON.stringify(text));
  });

  it('writes every single UTF-16 code unit as JSON.stringify does', () => {
    for (let code = 0; code <= 0xffff; code++) {
      const text = `x${String.fromCharCode(code)}y`;
      assert.equal(jsonString(text), JSON.stringify(text), `U+${code.toString(16)}`);
    }
  });
});

describe('jsonStringArray', () => {
  it('writes what JSON.stringify writes of an array of strings', () => {
    assert.equal(jsonStringArray([]), '[]');
    assert.equal(jsonStringArray(strings), JSON.stringify(strings));
    assert.equal(jsonStringArray(['one']), JSON.stringify(['one']));
  });
});

describe('jsonScalar', () => {
  it('writes what JSON.stringify writes of numbers, booleans, null and strings', () => {
    const scalars = [
      0,
      -0,
      1,
      -1.5,
      0.1,
      1e21,
      1e-7,
      5e-324,
      Number.MAX_VALUE,
      2 ** 53 + 2,
      true,
      false,
      null,
    ];
    for (const value of [...scalars, ...strings]) assert.equal(jsonScalar(value), JSON.stringify(value));
  });

  it('writes null for numbers JSON cannot hold, and leaves undefined and bigint to JSON.stringify', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
      assert.equal(jsonScalar(value), 'null');
    assert.equal(jsonScalar(undefined), undefined);
    assert.throws(() => jsonScalar(1n), TypeError);
  });
});
