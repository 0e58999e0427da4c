import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { after } from './deadlines.js';

describe('after', () => {
  it('fires once, no earlier than asked and at most two ticks after a plain timer', async () => {
    const tickMs = 10; // deadlines.ts's ticker
    const started = performance.now();
    const fired: number[] = [];
    after(30, () => fired.push(performance.now() - started));
    // A timer set at the same moment shares whatever delays the event loop: the bound is
    // relative to it, so a busy machine (tests run in parallel) does not fail the test.
    await sleep(30);
    const timerFired = performance.now() - started;
    await sleep(3 * tickMs);
    assert.equal(fired.length, 1);
    assert.ok(fired[0]! >= 30, `fired after ${fired[0]} ms`);
    assert.ok(
      fired[0]! <= timerFired + 2 * tickMs,
      `fired after ${fired[0]} ms, a plain timer after ${timerFired} ms`,
    );
    await sleep(3 * tickMs);
    assert.equal(fired.length, 1, 'fired again');
  });

  it('never fires a deadline cancelled in time, and ignores a cancel after firing', async () => {
    let fired = 0;
    const cancelled = after(20, () => fired++);
    const kept = after(20, () => fired++);
    cancelled.cancel();
    await sleep(60);
    assert.equal(fired, 1);
    kept.cancel();
    await sleep(30);
    assert.equal(fired, 1);
  });

  it('fires only the deadlines left of many set and cancelled in one turn', async () => {
    const fired: number[] = [];
    const deadlines = Array.from({ length: 1000 }, (_, i) => after(10, () => fired.push(i)));
    for (const [i, deadline] of deadlines.entries()) if (i % 100 !== 7) deadline.cancel();
    await sleep(50);
    assert.deepEqual(fired, [7, 107, 207, 307, 407, 507, 607, 707, 807, 907]);
  });

  it('fires a deadline set by another one as it fires', async () => {
    const fired: string[] = [];
    after(10, () => {
      fired.push('first');
      after(10, () => fired.push('second'));
    });
    await sleep(80);
    assert.deepEqual(fired, ['first', 'second']);
  });
});
