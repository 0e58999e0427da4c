/**
 * Many deadlines on one coarse timer. A fast store answers in microseconds, so arming and
 * clearing a setTimeout per store call (and a setInterval per lease) would cost more than the
 * work itself; instead every pending deadline shares one ticker, which runs only while some are
 * pending. Deadlines fire up to one tick late.
 *
 * Most deadlines are cancelled within microseconds (a store call answered, a handler done before
 * its first lease renewal, often in the same turn of the event loop), so cancelling only marks
 * one, and the next tick drops it: a list instead of a Set, whose table each add and delete of a
 * short-lived entry would grow and shrink again.
 */

const tickMs = 10;

/** A call waiting for its time; `cancel()` stops it (after it fired, it does nothing). */
export interface Deadline {
  cancel(): void;
}

class PendingCall implements Deadline {
  readonly at: number;
  readonly fire: () => void;
  done = false;

  constructor(at: number, fire: () => void) {
    this.at = at;
    this.fire = fire;
  }

  cancel(): void {
    this.done = true;
  }
}

let pending: PendingCall[] = [];
let ticker: NodeJS.Timeout | undefined;

/** Call `fire` once, `ms` from now, unless the returned deadline is cancelled first. */
export function after(ms: number, fire: () => void): Deadline {
  const call = new PendingCall(performance.now() + ms, fire);
  pending.push(call);
  if (!ticker) {
    ticker = setInterval(tick, tickMs);
    ticker.unref(); // A deadline alone never keeps the process alive; the work it guards does.
  }
  return call;
}

function tick(): void {
  const now = performance.now();
  // A call that fires may set another deadline: it joins the next list, looked at next tick.
  const calls = pending;
  pending = [];
  for (const call of calls) {
    if (call.done) continue;
    if (call.at > now) {
      pending.push(call);
      continue;
    }
    call.done = true;
    call.fire();
  }
  if (pending.length === 0) {
    clearInterval(ticker);
    ticker = undefined;
  }
}
