import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, retryAfterDelay } from './backoff.js';

describe('backoffDelay', () => {
  const options = { baseDelay: 100, maxDelay: 1000 };

  it('is random() times a ceiling that doubles per failed attempt, capped at maxDelay', () => {
    const at = (attempt: number, random: number) =>
      backoffDelay(attempt, { ...options, random: () => random });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((attempt) => at(attempt, 1)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(at(3, 0), 0, 'full jitter reaches down to zero');
    assert.equal(at(3, 0.25), 100);
    assert.equal(at(40, 0.5), 500, 'no overflow for late attempts');
  });
});

describe('retryAfterDelay', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');

  it('reads delta-seconds', () => {
    assert.equal(retryAfterDelay('0', now), 0);
    assert.equal(retryAfterDelay('1', now), 1000);
    assert.equal(retryAfterDelay(' 120 ', now), 120_000);
  });

  it('reads an HTTP-date against the given clock; a past date means now', () => {
    assert.equal(retryAfterDelay('Sat, 01 Mar 2025 12:00:30 GMT', now), 30_000);
    assert.equal(retryAfterDelay('Sat, 01 Mar 2025 11:00:00 GMT', now), 0);
  });

  it('ignores what it cannot read', () => {
    for (const value of [null, '', '-5', '1.5', 'soon', '12abc']) {
      assert.equal(retryAfterDelay(value, now), undefined, JSON.stringify(value));
    }
  });
});
