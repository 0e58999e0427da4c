import { randomUUID } from 'node:crypto';
import { type EngineContext, type KeyedTrace, reporter } from './engine-context.js';
import { IdempotencyError } from './errors.js';
import { Execution } from './execution.js';
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
  /** Decide what to do with a request. Throws only what the user's `scope` function throws. */
  begin(request: IdempotencyRequest): Promise<Decision>;
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
    async begin(request) {
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
      const scope = options.scope ? await options.scope(request.native) : '';
      if (typeof scope !== 'string') throw new TypeError('idemkit: the scope option must return a string');
      const trace: KeyedTrace = {
        method: request.method,
        path: request.path,
        key: parsed.key,
        scope,
        startedAt,
      };
      const storageKey = storageKeyOf(scope, request.method, request.path, parsed.key);
      const fingerprint = fingerprintRequest(request, options.fingerprintHeaders);
      return claim(context, options, trace, storageKey, fingerprint);
    },
  };

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

/**
 * Claim the key, or find out what to answer instead. A duplicate of an in-flight request waits
 * and then acts on what it finds: the original's response, a released key it may claim itself, or
 * a lapsed lease it may take over. While an execution in this process holds the key, the waiter
 * is handed its stored response directly; otherwise it is woken by the store's watch or by
 * capped polling.
 */
async function claim(
  context: EngineContext,
  options: ResolvedRouteOptions,
  trace: KeyedTrace,
  storageKey: string,
  fingerprint: string,
): Promise<Decision> {
  const { store, now, report } = context;
  const deadline = performance.now() + options.wait;
  let waited = false;
  let pollMs = firstPollMs;
  let record: IdempotencyRecord | null = null;
  let fromAcquire = false;
  for (;;) {
    fromAcquire = record === null;
    if (record === null) {
      const at = now();
      const token = randomUUID();
      const candidate = {
        key: storageKey,
        fingerprint,
        token,
        createdAt: at,
        leaseUntil: at + options.lease,
        expiresAt: at + options.ttl,
      };
      let result: AcquireResult;
      try {
        result = await callStore(
          'acquire',
          options.storeTimeout,
          () => store.acquire(candidate, at),
          // Outcome unknown: if the claim lands after all, give it back so the retry need not wait out a lease.
          (late) => late.then((landed) => landed.acquired && store.release(storageKey, token)).catch(nothing),
        );
      } catch (error) {
        return storeFailure(context, options, trace, 'acquire', error);
      }
      if (result.acquired) {
        context.local.hold(storageKey, token);
        return {
          type: 'execute',
          execution: new Execution(context, options, trace, {
            storageKey,
            token,
            fingerprint,
            expiresAt: result.record.expiresAt,
          }),
        };
      }
      record = result.record;
    }

    if (record.fingerprint !== fingerprint) {
      const response = problemResponse(
        'idempotency-key-reused',
        'This Idempotency-Key was already used with a different request (method, path, query or body).',
      );
      report('mismatch', trace, { status: response.status });
      return { type: 'respond', response };
    }
    if (record.state === 'completed') {
      const stored = record.response;
      if (!stored)
        return storeFailure(context, options, trace, 'get', new Error('completed record has no response'));
      report(waited ? 'waited' : 'replayed', trace, { status: stored.status });
      return { type: 'respond', response: replay(stored, trace.key) };
    }
    // The owner stopped renewing: take over, unless acquire just declined to (then wait, never spin).
    if (record.leaseUntil <= now() && !fromAcquire) {
      record = null;
      continue;
    }

    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      const response = problemResponse(
        'idempotency-key-in-flight',
        'A request with this Idempotency-Key is still being processed. Retry later with the same key.',
        1,
      );
      report('conflict', trace, { status: response.status });
      return { type: 'respond', response };
    }
    waited = true;
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
      report('waited', trace, { status: settlement.stored.response.status });
      return { type: 'respond', response: replay(settlement.stored.response, trace.key) };
    }
    try {
      record = await callStore('get', options.storeTimeout, () => store.get(storageKey, now()));
    } catch (error) {
      return storeFailure(context, options, trace, 'get', error);
    }
  }
}

function replay(response: CapturedResponse, key: string): CapturedResponse {
  return {
    status: response.status,
    headers: [...response.headers, ['idempotency-key', key], ['idempotent-replayed', 'true']],
    body: response.body,
  };
}

function storeFailure(
  context: EngineContext,
  options: ResolvedRouteOptions,
  trace: KeyedTrace,
  operation: string,
  error: unknown,
): Decision {
  context.report('store-error', trace, { reason: operation, error });
  if (options.onStoreError === 'open') return pass;
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
