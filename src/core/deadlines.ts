/**
 * Many deadlines on one coarse timer. A fast store answers in microseconds, so arming and
 * clearing a setTimeout per store call (and a setInterval per lease) would cost more than the
 * work itself; instead every pending deadline shares one ticker, which runs only while some are
 * pending. Deadlines fire up to one tick late.
 */

const tickMs = 10;

interface Deadline {
  at: number;
  fire: () => void;
}

const pending = new Set<Deadline>();
let ticker: NodeJS.Timeout | undefined;

/** Call `fire` once, `ms` from now, unless the returned cancel function runs first. */
export function after(ms: number, fire: () => void): () => void {
  const deadline: Deadline = { at: performance.now() + ms, fire };
  pending.add(deadline);
  if (!ticker) {
    ticker = setInterval(tick, tickMs);
    ticker.unref(); // A deadline alone never keeps the process alive; the work it guards does.
  }
  return () => {
    pending.delete(deadline);
  };
}

function tick(): void {
  const now = performance.now();
  for (const deadline of pending) {
    if (deadline.at > now) continue;
    pending.delete(deadline);
    deadline.fire();
  }
  if (pending.size === 0) {
    clearInterval(ticker);
    ticker = undefined;
  }
}
