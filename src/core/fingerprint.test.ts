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
