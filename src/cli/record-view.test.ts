import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRecord, viewBody } from './record-view.js';

describe('viewBody', () => {
  it('shows printable UTF-8 as text', () => {
    assert.deepEqual(viewBody(Buffer.from('{"a":"é"}\n'), 100), {
      encoding: 'utf-8',
      text: '{"a":"é"}\n',
      shown: 11,
      size: 11,
    });
  });

  it('shows binary, and text with terminal control characters, as base64', () => {
    const binary = Buffer.from([0, 1, 255, 128]);
    assert.deepEqual(viewBody(binary, 100), {
      encoding: 'base64',
      text: binary.toString('base64'),
      shown: 4,
      size: 4,
    });
    const terminalEscape = Buffer.from('\u001b[2Jgotcha');
    assert.equal(viewBody(terminalEscape, 100).encoding, 'base64');
  });

  it('truncates at the limit without splitting a character', () => {
    const view = viewBody(Buffer.from('aé'.repeat(10)), 4); // a(1) é(2) a(1) | é would be cut
    assert.equal(view.encoding, 'utf-8');
    assert.equal(view.text, 'aéa');
    assert.equal(view.shown, 4);
    assert.equal(view.size, 30);
  });
});

describe('formatRecord', () => {
  it('prints times as ISO, the headers, and a truncation note', () => {
    const text = formatRecord(
      {
        key: 'abc',
        fingerprint: 'f',
        state: 'completed',
        token: 't',
        createdAt: Date.UTC(2025, 0, 2, 3, 4, 5),
        leaseUntil: 0,
        expiresAt: Date.UTC(2025, 0, 3, 3, 4, 5),
        response: {
          status: 201,
          headers: [['content-type', 'text/plain']],
          body: Buffer.from('x'.repeat(50)),
        },
      },
      'my-key',
      10,
    );
    assert.match(text, /^key +my-key$/m);
    assert.match(text, /^created +2025-01-02T03:04:05\.000Z$/m);
    assert.match(text, /^expires +2025-01-03T03:04:05\.000Z$/m);
    assert.match(text, /^ {2}content-type: text\/plain$/m);
    assert.match(text, /^body +50 bytes, shown as utf-8$/m);
    assert.match(text, /truncated: 10 of 50 bytes shown/);
    assert.doesNotMatch(text, /lease until/, 'a completed record has no live lease');
  });
});
