import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fingerprintRequest, storageKeyOf } from './fingerprint.js';
import type { IdempotencyRequest } from './request.js';

function request(
  overrides: Partial<IdempotencyRequest> & { headers?: Record<string, string> } = {},
): IdempotencyRequest {
  const headers = { 'content-type': 'application/json', ...overrides.headers };
  return {
    method: 'POST',
    path: '/v1/charges',
    query: '',
    body: Buffer.from('{"amount":100,"currency":"usd"}'),
    native: undefined,
    ...overrides,
    header: (name) => (name in headers ? [headers[name as keyof typeof headers]!] : []),
  };
}

const fp = (overrides: Parameters<typeof request>[0] = {}, names: string[] = []) =>
  fingerprintRequest(request(overrides), names);

describe('fingerprintRequest', () => {
  it('is stable, and insensitive to JSON formatting', () => {
    assert.equal(fp(), fp());
    assert.equal(fp(), fp({ body: Buffer.from('{ "currency": "usd",\n"amount": 100 }') }));
    assert.equal(fp({ headers: { 'content-type': 'application/json; charset=utf-8' } }), fp());
    assert.equal(
      fp({ body: { parsed: { currency: 'usd', amount: 100 } } }),
      fp(),
      'a parsed body matches its text',
    );
  });

  it('changes with method, path, query, media type and body', () => {
    const base = fp();
    assert.notEqual(fp({ method: 'PATCH' }), base);
    assert.notEqual(fp({ path: '/v1/refunds' }), base);
    assert.notEqual(fp({ query: 'a=1' }), base);
    assert.notEqual(fp({ headers: { 'content-type': 'text/plain' } }), base);
    assert.notEqual(fp({ body: Buffer.from('{"amount":101,"currency":"usd"}') }), base);
    assert.notEqual(fp({ body: undefined }), base);
  });

  it('hashes non-JSON bodies as raw bytes', () => {
    const form = { headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    assert.notEqual(
      fp({ ...form, body: Buffer.from('a=1&b=2') }),
      fp({ ...form, body: Buffer.from('b=2&a=1') }),
    );
  });

  it('never equates bodies that differ only in invalid UTF-8 bytes', () => {
    const a = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]);
    const b = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xfe, 0x22, 0x7d]);
    assert.notEqual(fp({ body: a }), fp({ body: b }));
  });

  it('cannot be fooled by moving bytes between fields', () => {
    assert.notEqual(fp({ path: '/a', query: 'bc' }), fp({ path: '/ab', query: 'c' }));
  });

  it('includes only the headers it is told to', () => {
    assert.equal(fp({ headers: { 'x-account': '1' } }), fp({ headers: { 'x-account': '2' } }));
    assert.notEqual(
      fp({ headers: { 'x-account': '1' } }, ['x-account']),
      fp({ headers: { 'x-account': '2' } }, ['x-account']),
    );
  });
});

describe('storageKeyOf', () => {
  it('separates tenants, methods, paths and keys, and never contains the raw key', () => {
    const base = storageKeyOf('acme', 'POST', '/v1/charges', 'key-1');
    assert.match(base, /^[0-9a-f]{64}$/);
    assert.ok(!base.includes('key-1'));
    for (const other of [
      storageKeyOf('globex', 'POST', '/v1/charges', 'key-1'),
      storageKeyOf('acme', 'PATCH', '/v1/charges', 'key-1'),
      storageKeyOf('acme', 'POST', '/v1/refunds', 'key-1'),
      storageKeyOf('acme', 'POST', '/v1/charges', 'key-2'),
      storageKeyOf('acmePOST', '', '/v1/charges', 'key-1'),
    ]) {
      assert.notEqual(other, base);
    }
  });
});

/**
 * Records outlive the code that wrote them: a process of the next release must find the records
 * of this one, or during a rolling deploy a retry that reaches the new code runs again. So the
 * storage key and the fingerprint of a request are fixed values; changing how either is computed
 * is a breaking change for every store, and these tests say so.
 */
describe('what is stored stays the same across releases', () => {
  const tricky = 'x"y\\z\u0001 \ud83d\ude00 \ud800 é';
  const body = { b: [1, -0, 1e21, 0.1, true, null, tricky], a: { é: 'ü', '': 2.5 } };

  it('storage keys', () => {
    assert.equal(
      storageKeyOf('', 'POST', '/v1/charges', 'abc'),
      '8fb4c5740fe53f8006f20e035ad1963f936847aeebcfbeaed4151c469ed3df2a',
    );
    assert.equal(
      storageKeyOf(tricky, 'POST', '/v1/ch\u00e9', 'k"\\'),
      '427002d6b8d91b0c96117fa4bfb3d137b341fba97958835893da8da48b78c9e9',
    );
  });

  it('fingerprints of JSON bodies, as text and as parsed by a framework', () => {
    const headers = { 'x-tenant': 'acme "one"' };
    const text = fp({ query: 'a=1', headers, body: Buffer.from(JSON.stringify(body)) }, ['x-tenant']);
    assert.equal(text, '97c763d3c93233101af92aa0abb848258186d6a3d4fc56aaa3264245159a78ac');
    assert.equal(
      fp({ query: 'a=1', headers, body: { parsed: body } }, ['x-tenant']),
      '97c763d3c93233101af92aa0abb848258186d6a3d4fc56aaa3264245159a78ac',
    );
  });

  it('fingerprints of other bodies', () => {
    const form = { headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    assert.equal(
      fp({ ...form, body: Buffer.from('a=1&b=2') }),
      'a72d13f91f1d5e79ba4bb11c6c3db023bc0100ee736de52a49e9d69389c0c93e',
    );
    assert.equal(fp({ body: undefined }), '739c7a08b46fcbb6fa5a55fcc2e139791b5d4b25a671d4b5a4862ec6039102b3');
  });
});
