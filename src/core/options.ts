import { IdempotencyError } from './errors.js';
import type { IdempotencyEvent } from './events.js';
import type { IdempotencyStore } from './store.js';

/** Options that a route may override (every adapter's `routeOptions`). */
// biome-ignore lint/suspicious/noExplicitAny: engine-wide options cannot know the framework's request type.
export interface RouteOptions<Native = any> {
  /** How long a record lives from its first claim, ms. Default 24 h. */
  ttl?: number;
  /** How long an in-flight record is presumed alive without renewal, ms; renewed while the handler runs. Default 30 s. */
  lease?: number;
  /** How long a duplicate waits for the in-flight original, ms; 0 answers 409 at once. Default 10 s. */
  wait?: number;
  /** Answer 400 to requests without a key. Default false (they run unprotected). */
  required?: boolean;
  /** Methods that take keys; a key on any other method is ignored. Default POST and PATCH. */
  methods?: readonly string[];
  /** The tenant a request belongs to (it receives the framework's own request). Default: one global tenant. */
  scope?: (request: Native) => string | Promise<string>;
  /** Request headers that are part of the fingerprint. Default none. */
  fingerprintHeaders?: readonly string[];
  /**
   * Which handler statuses are stored for replay. Default: 2xx–4xx except 408, 409, 425, 429.
   * If it throws, the response is still sent, nothing is stored, the key is released and a
   * `not-stored` event (reason `error`) carries what it threw.
   */
  storeResponse?: (status: number) => boolean;
  /** Responses larger than this are delivered but not stored (the key is released). Default 1 MiB. */
  maxResponseBytes?: number;
  /** When the store fails: `'closed'` answers 503 (default); `'open'` runs the handler unprotected. */
  onStoreError?: 'closed' | 'open';
  /** How long one store call may take before it counts as failed (outcome unknown), ms. Default 5 s. */
  storeTimeout?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: as above; adapters narrow it per framework.
export interface IdempotencyOptions<Native = any> extends RouteOptions<Native> {
  /** Where records live: a store from `idemkit/stores/*` or your own. */
  store: IdempotencyStore;
  /** Told about every outcome; exceptions it throws are swallowed. */
  onEvent?: (event: IdempotencyEvent) => void;
  /** The clock for record times (lease, expiry). Default `Date.now`; tests move it. */
  now?: () => number;
}

/** Route options after merging and checking: what the engine consults per request. */
export interface ResolvedRouteOptions {
  ttl: number;
  lease: number;
  wait: number;
  required: boolean;
  methods: ReadonlySet<string>;
  scope: ((request: unknown) => string | Promise<string>) | undefined;
  fingerprintHeaders: readonly string[];
  storeResponse: (status: number) => boolean;
  maxResponseBytes: number;
  onStoreError: 'closed' | 'open';
  storeTimeout: number;
}

const unstorable = new Set([408, 409, 425, 429]);

/** 2xx, 3xx and 4xx are the handler's answer and are kept; 5xx is a failure the retry should redo. */
export function defaultStoreResponse(status: number): boolean {
  return status >= 200 && status < 500 && !unstorable.has(status);
}

export const defaults = {
  ttl: 86_400_000,
  lease: 30_000,
  wait: 10_000,
  required: false,
  methods: ['POST', 'PATCH'],
  fingerprintHeaders: [],
  storeResponse: defaultStoreResponse,
  maxResponseBytes: 1024 * 1024,
  onStoreError: 'closed',
  storeTimeout: 5_000,
} as const satisfies RouteOptions;

/** Merge route options over engine options over defaults, rejecting nonsense with a clear message. */
export function resolveRouteOptions(...layers: Array<RouteOptions | undefined>): ResolvedRouteOptions {
  const merged: RouteOptions = { ...defaults };
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (layer === null || typeof layer !== 'object') fail('options', 'must be an object');
    for (const [name, value] of Object.entries(layer)) {
      if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
    }
  }
  const ttl = positiveMs('ttl', merged.ttl);
  const lease = positiveMs('lease', merged.lease);
  if (lease >= ttl) fail('lease', `(${lease} ms) must be shorter than ttl (${ttl} ms)`);
  const wait = merged.wait;
  if (typeof wait !== 'number' || !Number.isFinite(wait) || wait < 0)
    fail('wait', 'must be a number of ms ≥ 0');
  const methods = merged.methods;
  if (!Array.isArray(methods) || methods.some((method) => typeof method !== 'string' || method === '')) {
    fail('methods', 'must be an array of method names');
  }
  const fingerprintHeaders = merged.fingerprintHeaders;
  if (
    !Array.isArray(fingerprintHeaders) ||
    fingerprintHeaders.some((name) => typeof name !== 'string' || name === '')
  ) {
    fail('fingerprintHeaders', 'must be an array of header names');
  }
  if (merged.scope !== undefined && typeof merged.scope !== 'function') fail('scope', 'must be a function');
  if (typeof merged.storeResponse !== 'function') fail('storeResponse', 'must be a function');
  if (typeof merged.required !== 'boolean') fail('required', 'must be true or false');
  const maxResponseBytes = merged.maxResponseBytes;
  if (typeof maxResponseBytes !== 'number' || !Number.isInteger(maxResponseBytes) || maxResponseBytes < 0) {
    fail('maxResponseBytes', 'must be a whole number of bytes ≥ 0');
  }
  if (merged.onStoreError !== 'closed' && merged.onStoreError !== 'open') {
    fail('onStoreError', "must be 'closed' or 'open'");
  }
  return {
    ttl,
    lease,
    wait,
    required: merged.required,
    methods: new Set(methods.map((method) => method.toUpperCase())),
    scope: merged.scope,
    fingerprintHeaders: fingerprintHeaders.map((name) => name.toLowerCase()),
    storeResponse: merged.storeResponse,
    maxResponseBytes,
    onStoreError: merged.onStoreError,
    storeTimeout: positiveMs('storeTimeout', merged.storeTimeout),
  };
}

function positiveMs(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    fail(name, 'must be a positive number of ms');
  return value;
}

function fail(name: string, problem: string): never {
  throw new IdempotencyError('idempotency-invalid-option', `idemkit: option "${name}" ${problem}`);
}
