/**
 * A value now, or a promise of it. Stores and the engine answer synchronously when they can (an
 * in-process map, better-sqlite3): the hot path then creates no promise and waits for no
 * microtask. Callers that do not care just `await`.
 */
export type Awaitable<T> = T | Promise<T>;

/** Whether `value` is promise-like (any thenable: some drivers bring their own promises). */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
