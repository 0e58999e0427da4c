import { type Awaitable, isPromiseLike } from './awaitable.js';
import { type EngineContext, type KeyedTrace, reporter } from './engine-context.js';
import { IdempotencyError } from './errors.js';
import { Execution } from './execution.js';
import { newFencingToken } from './fencing-token.js';
import { fingerprintRequest, storageKeyOf } from './fingerprint.js';
import { parseKeyHeader } from './key.js';
import { LocalClaims, type Settlement } from './local-claims.js';
import type { IdempotencyOptions, ResolvedRouteOptions, RouteOptions } from './options.js';
import { resolveRouteOptions } from './options.js';
import { problemResponse } from './problem.js';
import type { CapturedResponse, IdempotencyRequest } from './request.js';
import type { AcquireResult, IdempotencyRecord, IdempotencyStore } from './store.js';
import { callStore } from './store-call.js';

/** What an adapter must do with a request. */
export type Decision =
  /** Run the handler as if idemkit were not there (no key, a method that takes none, or store failing open). */
  | { type: 'pass' }
  /** Send this response; do not run the handler (a replay, or a 400/409/422/503 problem). */
  | { type: 'respond'; response: CapturedResponse }
  /** Run the handler, then report its outcome to the execution. */
  | { type: 'execute'; execution: Execution };

/** One route's view of the engine, with its options resolved once. */
export interface IdempotencyRoute {
  readonly options: ResolvedRouteOptions;
  /**
   * Decide what to do with a request: synchronously when the store answers so and `scope` is
   * synchronous (`await` it either way). Throws only what the user's `scope` function throws.
   */
  begin(request: IdempotencyRequest): Awaitable<Decision>;
}

/** The engine: create one per application and hand it to an adapter. */
export interface Idempotency {
  readonly store: IdempotencyStore;
  /** Engine options merged with `routeOptions`; adapters call this once per route. */
  route(routeOptions?: RouteOptions): IdempotencyRoute;
  /** Delete expired records now (by the engine's clock); returns how many. */
  purgeExpired(): Promise<number>;
}

const pass: Decision = { type: 'pass' };
const firstPollMs = 5;
const maxPollMs = 200;

/**
 * Create the engine that every adapter shares.
 *
 * @example
 * ```ts
 * import { createIdempotency } from 'idemkit';
 * import { memoryStore } from 'idemkit/stores/memory';
 *
 * const engine = createIdempotency({ store: memoryStore(), wait: 5_000 });
 * ```
 */
export function createIdempotency(options: IdempotencyOptions): Idempotency {
  if (options === null || typeof options !== 'object') {
    throw new IdempotencyError(
      'idempotency-invalid-option',
      'idemkit: createIdempotency needs an options object',
    );
  }
  const { store, onEvent, now = Date.now, ...routeDefaults } = options;
  if (!store || typeof store.acquire !== 'function' || typeof store.get !== 'function') {
    throw new IdempotencyError(
      'idempotency-invalid-option',
      'idemkit: option "store" must be an idempotency store',
    );
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    throw new IdempotencyError('idempotency-invalid-option', 'idemkit: option "onEvent" must be a function');
  }
  if (typeof now !== 'function') {
    throw new IdempotencyError('idempotency-invalid-option', 'idemkit: option "now" must be a function');
  }
  const engineOptions = resolveRouteOptions(routeDefaults);
  const context: EngineContext = {
    store,
    now,
    local: new LocalClaims(),
    report: reporter(onEvent),
  };
  return {
    store,
    route: (routeOptions) =>
      createRoute(context, routeOptions ? resolveRouteOptions(routeDefaults, routeOptions) : engineOptions),
    purgeExpired: async () => store.purgeExpired(now()),
  };
}

function createRoute(context: EngineContext, options: ResolvedRouteOptions): IdempotencyRoute {
  return {
    options,
    begin(request) {
      if (!options.methods.has(request.method)) return pass;
      const startedAt = performance.now();
      const parsed = parseKeyHeader(request.header('idempotency-key'));
      if (parsed.type === 'missing') {
        if (!options.required) return pass;
        return reject(
          request,
          startedAt,
          'idempotency-key-missing',
          'This endpoint requires an Idempotency-Key header.',
        );
      }
      if (parsed.type === 'invalid')
        return reject(request, startedAt, 'idempotency-key-invalid', parsed.detail);
      if (!options.scope) return keyed(request, parsed.key, '', startedAt);
      const scope = options.scope(request.native);
      return isPromiseLike(scope)
        ? Promise.resolve(scope).then((tenant) => keyed(request, parsed.key, tenant, startedAt))
        : keyed(request, parsed.key, scope, startedAt);
    },
  };

  function keyed(
    request: IdempotencyRequest,
    key: string,
    scope: unknown,
    startedAt: number,
  ): Awaitable<Decision> {
    if (typeof scope !== 'string') throw new TypeError('idemkit: the scope option must return a string');
    const trace: KeyedTrace = { method: request.method, path: request.path, key, scope, startedAt };
    const storageKey = storageKeyOf(scope, request.method, request.path, key);
    const fingerprint = fingerprintRequest(request, options.fingerprintHeaders);
    return claim({ context, options, trace, storageKey, fingerprint }, performance.now() + options.wait);
  }

  function reject(
    request: IdempotencyRequest,
    startedAt: number,
    code: 'idempotency-key-missing' | 'idempotency-key-invalid',
    detail: string,
  ): Decision {
    const response = problemResponse(code, detail);
    context.report(
      'invalid-key',
      { method: request.method, path: request.path, startedAt },
      { status: response.status, reason: code },
    );
    return { type: 'respond', response };
  }
}

/** One keyed request on its way to a decision. */
interface Claim {
  context: EngineContext;
  options: ResolvedRouteOptions;
  trace: KeyedTrace;
  storageKey: string;
  fingerprint: string;
}

/**
 * Claim the key, or find out what to answer instead. Most requests are decided by the first
 * `acquire` (a new key, a replay, a mismatch), synchronously when the store answers so; only a
 * duplicate of an in-flight request goes on to wait (see `waitForTurn`).
 */
function claim(request: Claim, deadline: number): Awaitable<Decision> {
  const token = newFencingToken();
  const acquired = acquire(request, token);
  if (isPromiseLike(acquired)) {
    return acquired.then(
      (result) => afterAcquire(request, token, result, deadline),
      (error: unknown) => storeFailure(request, 'acquire', error),
    );
  }
  return afterAcquire(request, token, acquired, deadline);
}

function afterAcquire(
  request: Claim,
  token: string,
  result: AcquireResult,
  deadline: number,
): Awaitable<Decision> {
  if (result.acquired) return execute(request, token, result.record);
  const verdict = judge(request, result.record, true, false, deadline);
  return typeof verdict === 'string' ? waitForTurn(request, result.record, deadline) : verdict;
}

/** Try to claim the key with a new token. Store failures come back as a rejected promise. */
function acquire(request: Claim, token: string): Awaitable<AcquireResult> {
  const { context, options, storageKey, fingerprint } = request;
  const { store, now } = context;
  const at = now();
  const candidate = {
    key: storageKey,
    fingerprint,
    token,
    createdAt: at,
    leaseUntil: at + options.lease,
    expiresAt: at + options.ttl,
  };
  return callStore(
    'acquire',
    options.storeTimeout,
    () => store.acquire(candidate, at),
    // Outcome unknown: if the claim lands after all, give it back so the retry need not wait out a lease.
    (late) => late.then((landed) => landed.acquired && store.release(storageKey, token)).catch(nothing),
  );
}

function execute(request: Claim, token: string, record: IdempotencyRecord): Decision {
  const { context, options, trace, storageKey, fingerprint } = request;
  context.local.hold(storageKey, token);
  return {
    type: 'execute',
    execution: new Execution(context, options, trace, {
      storageKey,
      token,
      fingerprint,
      expiresAt: record.expiresAt,
    }),
  };
}

/**
 * What a record the store returned means for this request: an answer, `'acquire'` (the key is
 * free again, or its owner stopped renewing: claim it), or `'wait'` (its owner is working).
 * `fromAcquire`: the store's `acquire` just returned it, so a lapsed lease it declined to take
 * over is waited on, never spun on.
 */
function judge(
  request: Claim,
  record: IdempotencyRecord | null,
  fromAcquire: boolean,
  waited: boolean,
  deadline: number,
): Decision | 'acquire' | 'wait' {
  if (record === null) return 'acquire';
  const { context, trace, fingerprint } = request;
  if (record.fingerprint !== fingerprint) {
    const response = problemResponse(
      'idempotency-key-reused',
      'This Idempotency-Key was already used with a different request (method, path, query or body).',
    );
    context.report('mismatch', trace, { status: response.status });
    return { type: 'respond', response };
  }
  if (record.state === 'completed') {
    const stored = record.response;
    if (!stored) return storeFailure(request, 'get', new Error('completed record has no response'));
    context.report(waited ? 'waited' : 'replayed', trace, { status: stored.status });
    return { type: 'respond', response: replay(stored, trace.key) };
  }
  if (record.leaseUntil <= context.now() && !fromAcquire) return 'acquire';
  if (deadline - performance.now() <= 0) {
    const response = problemResponse(
      'idempotency-key-in-flight',
      'A request with this Idempotency-Key is still being processed. Retry later with the same key.',
      1,
    );
    context.report('conflict', trace, { status: response.status });
    return { type: 'respond', response };
  }
  return 'wait';
}

/**
 * A duplicate of an in-flight request waits, then acts on what it finds: the original's response,
 * a released key it may claim itself, or a lapsed lease it may take over. While an execution in
 * this process holds the key, the waiter is handed its stored response directly; otherwise it is
 * woken by the store's watch or by capped polling.
 */
async function waitForTurn(request: Claim, inFlight: IdempotencyRecord, deadline: number): Promise<Decision> {
  const { context, options, trace, storageKey, fingerprint } = request;
  const { store, now } = context;
  let record = inFlight;
  let pollMs = firstPollMs;
  for (;;) {
    const remaining = deadline - performance.now();
    let settlement: Settlement;
    if (context.local.holds(storageKey, record.token)) {
      // Our own execution holds the key and will hand over its outcome: no polling. Look at the
      // store again only when its lease would lapse (an owner that stopped renewing is taken over).
      settlement = await nextChange(
        context,
        storageKey,
        Math.min(remaining, record.leaseUntil - now()),
        false,
      );
    } else {
      settlement = await nextChange(context, storageKey, Math.min(pollMs, remaining), true);
      pollMs = Math.min(maxPollMs, pollMs * 2);
    }
    if (settlement.stored?.fingerprint === fingerprint) {
      context.report('waited', trace, { status: settlement.stored.response.status });
      return { type: 'respond', response: replay(settlement.stored.response, trace.key) };
    }
    let found: IdempotencyRecord | null;
    try {
      found = await callStore('get', options.storeTimeout, () => store.get(storageKey, now()));
    } catch (error) {
      return storeFailure(request, 'get', error);
    }
    let verdict = judge(request, found, false, true, deadline);
    if (verdict === 'acquire') {
      const token = newFencingToken();
      let result: AcquireResult;
      try {
        result = await acquire(request, token);
      } catch (error) {
        return storeFailure(request, 'acquire', error);
      }
      if (result.acquired) return execute(request, token, result.record);
      // A record acquire returns is never judged 'acquire' again: at worst it is waited on.
      found = result.record;
      verdict = judge(request, found, true, true, deadline);
    }
    if (typeof verdict !== 'string') return verdict;
    record = found as IdempotencyRecord;
  }
}

function replay(response: CapturedResponse, key: string): CapturedResponse {
  return {
    status: response.status,
    headers: [...response.headers, ['idempotency-key', key], ['idempotent-replayed', 'true']],
    body: response.body,
  };
}

function storeFailure(request: Claim, operation: string, error: unknown): Decision {
  request.context.report('store-error', request.trace, { reason: operation, error });
  if (request.options.onStoreError === 'open') return pass;
  const response = problemResponse(
    'idempotency-store-unavailable',
    'The idempotency store is unavailable, so this request was not processed. Retry with the same key.',
    1,
  );
  return { type: 'respond', response };
}

/**
 * Resolve at the first of: this process settles the key, `ms` pass, or (with `watch`) the store
 * says the key changed. Only a settlement in this process carries a response.
 */
async function nextChange(
  context: EngineContext,
  storageKey: string,
  ms: number,
  watch: boolean,
): Promise<Settlement> {
  const local = context.local.wait(storageKey, ms);
  const { store } = context;
  if (!watch || !store.watch) return local.settlement;
  const controller = new AbortController();
  try {
    const changed = store.watch(storageKey, controller.signal).then(nothing, nothing);
    return (await Promise.race([local.settlement, changed])) ?? {};
  } finally {
    local.cancel();
    controller.abort();
  }
}

const nothing = (): undefined => undefined;
